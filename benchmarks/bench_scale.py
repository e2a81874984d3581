"""`make bench-scale`: a whole brand, partition by partition, on backend=local and backend=dask.

A seeded, vectorised generator writes brands of 1x, 4x and 16x a base size (base: 1,000 SKUs x
10 locations = 10,000 SKU x location series, 2 years daily) as partitioned Parquet: every
partition holds whole SKUs (all their locations), so each step below is a function of one
partition, mapped by the backend (src/compute), and no process ever holds the brand:

1. **generate** — the brand's daily sales export (one line per SKU x location x day with sales),
   products, stock — per partition;
2. **ingest** — canonical transactions: cast, the project's transaction rules
   (``src.features.validation``), rejects counted, written per partition;
3. **features** — the daily SKU x location demand panel and statics (``demand_panel``, the
   feature store's builder) per partition, plus each series' revenue for the brand-wide ABC;
4. **forecasts** — the configured ``tiered`` model (conf/forecast: cheap models everywhere,
   LightGBM on the A/B classes; classes over the whole brand) fitted and run 28 days ahead;
5. **plan** — ``make_plan`` (conf/policy) per partition: reorder and transfer suggestions.

Measured per size and backend: wall time per step, CPU seconds (this process + every task),
peak RSS of this process and of every worker process, and cost per series (CPU s / series).
Writes ``benchmarks/out/bench_scale.json``, ``benchmarks/out/bench_scale.png`` (cost vs size)
and the table between the ``bench-scale`` markers of ``docs/BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from benchmarks.common import OUT, REPO, write_section
from src.compute import DaskBackend, LocalBackend, use
from src.features import columns as C
from src.features.classes import series_revenue
from src.features.panel import PanelSpec, demand_panel, future_calendar
from src.features.store import bucket
from src.features.validation import schema_failures, transactions_schema
from src.forecast.pipeline import model_factories

START = "2023-01-01"
HORIZON = 28
TARGET_LINEAR, TARGET_16X_MIN, TARGET_DASK_OVERHEAD = 1.25, 40.0, 1.3


@dataclass(frozen=True)
class Part:
    """One partition of the brand: its number, its SKUs and where the brand lives."""

    index: int
    skus: tuple[str, ...]
    root: str
    days: int
    locations: int
    seed: int

    def describe(self) -> str:
        return f"partition {self.index} ({len(self.skus)} SKUs x {self.locations} locations)"

    def path(self, table: str) -> Path:
        p = Path(self.root) / table
        p.mkdir(parents=True, exist_ok=True)
        return p / f"part-{self.index:04d}.parquet"


def _start() -> float:
    """Reset this process's peak RSS (Linux: ``clear_refs`` 5), so each task reports its own
    peak — a worker forked from this process would otherwise inherit the driver's."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return time.process_time()


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _usage(t0_cpu: float) -> dict:
    return {"cpu_s": time.process_time() - t0_cpu, "rss_mb": _peak_mb(), "pid": os.getpid()}


# --- 1. generate ------------------------------------------------------------------------------


def generate(part: Part) -> dict:
    """The partition's daily sales lines, products and stock (vectorised; seeded per partition)."""
    t0 = _start()
    rng = np.random.default_rng([part.seed, part.index])
    n_sku, n_loc, days = len(part.skus), part.locations, part.days
    dates = pd.date_range(START, periods=days, freq="D")
    category = rng.integers(0, 20, n_sku)
    price = np.round(rng.lognormal(2.3, 0.6, n_sku), 2)
    popularity = rng.lognormal(-0.5, 1.2, n_sku) * np.where(rng.random(n_sku) < 0.3, 0.05, 1.0)
    loc_size = np.random.default_rng([part.seed]).lognormal(0, 0.4, n_loc)  # same for every part
    dow = dates.dayofweek.to_numpy()
    weekly = np.where(dow >= 5, 1.4, 0.9)
    yearly = 1 + 0.25 * np.sin(2 * np.pi * (dates.dayofyear.to_numpy() - 80) / 365.25)
    yearly = yearly + 0.4 * (dates.month.to_numpy() == 12)
    # promotions: ~3 a year per SKU, 7-14 days, 20-35 % off, +80 % demand
    n_promo = max(1, days // 120)
    starts = rng.integers(0, max(days - 14, 1), (n_sku, n_promo))
    lengths = rng.integers(7, 15, (n_sku, n_promo))
    t = np.arange(days)
    promo = (
        (t[None, None, :] >= starts[..., None]) & (t[None, None, :] < (starts + lengths)[..., None])
    ).any(axis=1)
    discount = rng.uniform(0.2, 0.35, n_sku)
    rate = (
        popularity[:, None, None]
        * loc_size[None, :, None]
        * (weekly * yearly)[None, None, :]
        * np.where(promo, 1.8, 1.0)[:, None, :]
    )  # (sku, location, day)
    shape = 2.0  # negative-binomial demand: gamma-mixed Poisson
    y = rng.poisson(rng.gamma(shape, rate / shape)).astype(np.float32)
    s, loc, d = np.nonzero(y)
    skus = np.asarray(part.skus, dtype=object)
    locs = np.array([f"loc_{i:02d}" for i in range(n_loc)], dtype=object)
    unit_price = np.round(price[s] * np.where(promo[s, d], 1 - discount[s], 1.0), 2)
    lines = pd.DataFrame(
        {
            "OrderNo": pd.Series(locs[loc]) + "-" + pd.Series(d.astype(str)),
            "Line": (s + 1).astype(np.int64),
            "Date": dates[d] + pd.Timedelta(hours=18),
            "Shop": locs[loc],
            "Item": skus[s],
            "Units": y[s, loc, d].astype(np.float64),
            "Price": unit_price,
            "OnPromo": promo[s, d],
        }
    )
    lines.to_parquet(part.path("raw_sales"), index=False)
    products = pd.DataFrame(
        {
            C.SKU: skus,
            C.NAME: [f"item {x}" for x in skus],
            C.CATEGORY: [f"cat_{c:02d}" for c in category],
            C.SUBCATEGORY: None,
            C.UNIT_COST: np.round(price * 0.5, 2),
            C.IS_MERCHANDISE: True,
        }
    )
    products.to_parquet(part.path("products"), index=False)
    mean_rate = rate[:, :, -56:].mean(axis=2)
    stock = pd.DataFrame(
        {
            C.LOCATION_ID: np.tile(locs, n_sku),
            C.SKU: np.repeat(skus, n_loc),
            C.AS_OF: dates[-1],
            C.ON_HAND: np.floor(mean_rate.ravel() * rng.uniform(0, 40, n_sku * n_loc)),
            C.ON_ORDER: 0.0,
        }
    )
    stock.to_parquet(part.path("inventory"), index=False)
    return {"rows": len(lines), **_usage(t0)}


# --- 2. ingest --------------------------------------------------------------------------------


def ingest(part: Part) -> dict:
    """The export's columns mapped to canonical transactions, checked by the project's rules."""
    t0 = _start()
    raw = pd.read_parquet(part.path("raw_sales"))
    tx = pd.DataFrame(
        {
            C.ORDER_ID: raw["OrderNo"].astype(object),
            C.LINE: raw["Line"],
            C.TS: pd.to_datetime(raw["Date"]),
            C.CUSTOMER_ID: None,
            C.CHANNEL: "store",
            C.LOCATION_ID: raw["Shop"].astype(object),
            C.SKU: raw["Item"].astype(object),
            C.QTY: raw["Units"].astype(float),
            C.UNIT_PRICE: raw["Price"].astype(float),
            C.PROMO: raw["OnPromo"].astype(bool),
            C.LINE_TYPE: C.LINE_SALE,
            C.LINKED_ORDER_ID: None,
            C.SOURCE: "bench_scale",
        }
    )
    failures = schema_failures(tx, transactions_schema(tx[C.TS].max()))
    rejected = failures["index"].nunique() if len(failures) else 0
    if rejected:
        tx = tx.drop(index=failures["index"].unique())
    tx.to_parquet(part.path("transactions"), index=False)
    return {"rows": len(tx), "rejected": int(rejected), **_usage(t0)}


# --- 3. features ------------------------------------------------------------------------------


def features(part: Part) -> dict:
    t0 = _start()
    tx = pd.read_parquet(part.path("transactions"))
    products = pd.read_parquet(part.path("products"))
    end = str((pd.Timestamp(START) + pd.Timedelta(days=part.days - 1)).date())
    spec = PanelSpec(
        level="sku_location",
        freq="D",
        start="global",
        end=end,
        holiday_country=None,
        cancellation_days=None,
    )
    panel, static = demand_panel(tx, products, spec)
    panel.to_parquet(part.path("panel"), index=False)
    static.to_parquet(part.path("static"), index=False)
    revenue = series_revenue(panel, 365)
    return {
        "series": int(panel[C.UNIQUE_ID].nunique()),
        "rows": len(panel),
        "revenue": revenue,
        **_usage(t0),
    }


# --- 4. forecasts -----------------------------------------------------------------------------


def forecast(part: Part, forecast_cfg: dict, classes: pd.Series) -> dict:
    t0 = _start()
    panel = pd.read_parquet(part.path("panel"))
    static = pd.read_parquet(part.path("static"))
    static["abc_class"] = static[C.UNIQUE_ID].map(classes).fillna("C").to_numpy()
    make = model_factories(forecast_cfg, ["tiered"], "D", forecast_cfg["quantiles"])["tiered"]
    model = make().fit(panel, static)
    cal = future_calendar(panel[C.DS].max(), HORIZON, "D", None)
    ids = panel[C.UNIQUE_ID].unique()
    future = pd.DataFrame({C.UNIQUE_ID: np.repeat(ids, len(cal))}).join(
        pd.concat([cal] * len(ids), ignore_index=True)
    )
    fc = model.predict(HORIZON, future)
    fc.to_parquet(part.path("forecast"), index=False)
    return {"series": len(ids), "choice": model.choice_, **_usage(t0)}


# --- 5. plan ----------------------------------------------------------------------------------


def plan(part: Part, policy_cfg: dict, locations: pd.DataFrame) -> dict:
    from src.policy.plan import make_plan

    t0 = _start()
    fc = pd.read_parquet(part.path("forecast"))
    panel = pd.read_parquet(part.path("panel"), columns=[C.UNIQUE_ID, C.DS, C.Y, C.PRICE])
    items = pd.read_parquet(part.path("products"))
    stock = pd.read_parquet(part.path("inventory"))
    p = make_plan(fc, panel, items, locations, stock, None, policy_cfg, "sku_location")
    p.suggestions.to_parquet(part.path("suggestions"), index=False)
    return {
        "suggestions": len(p.suggestions),
        "orders": int((p.suggestions["order_qty"] > 0).sum()),
        **_usage(t0),
    }


# --- driver -----------------------------------------------------------------------------------


def configs(partitions_inner: int = 1) -> tuple[dict, dict]:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = compose("run", [f"forecast.partitions={partitions_inner}"])
    c = OmegaConf.to_container(cfg, resolve=True)
    return c["forecast"], c["policy"]


def run_brand(size: int, backend_name: str, args) -> dict:
    root = Path(args.work) / f"x{size}-{backend_name}"
    shutil.rmtree(root, ignore_errors=True)
    n_sku = args.base_skus * size
    skus = pd.Series([f"SKU{i:06d}" for i in range(n_sku)])
    n_parts = max(
        args.min_partitions, int(np.ceil(n_sku * args.locations / args.series_per_partition))
    )
    part_of = bucket(skus, n_parts)
    parts = [
        Part(k, tuple(skus[part_of == k]), str(root), args.days, args.locations, args.seed)
        for k in range(n_parts)
    ]
    forecast_cfg, policy_cfg = configs()
    locations = pd.DataFrame(
        {
            C.LOCATION_ID: [f"loc_{i:02d}" for i in range(args.locations)],
            C.LOCATION_TYPE: "store",
            C.REGION: "r1",
            C.LEAD_TIME_DAYS: 7.0,
        }
    )
    backend = (
        LocalBackend(progress=True)
        if backend_name == "local"
        else DaskBackend(
            n_workers=args.workers,
            threads_per_worker=1,
            memory_limit=args.memory_limit,
            dashboard_address=None,
            progress=True,
        )
    )
    steps, tasks = {}, []

    def step(name, fn, **shared) -> list:
        t = time.perf_counter()
        res = backend.map(fn, parts, label=f"{name} x{size}", **shared)
        steps[name] = time.perf_counter() - t
        tasks.extend({"step": name, **{k: r[k] for k in ("cpu_s", "rss_mb", "pid")}} for r in res)
        print(f"  x{size} {backend_name} {name}: {steps[name]:.1f} s", flush=True)
        return res

    t_all, cpu0 = time.perf_counter(), time.process_time()
    try:
        with use(backend):
            step("generate", generate)
            step("ingest", ingest)
            feat = step("features", features)
            t = time.perf_counter()
            from src.features.classes import abc_classes

            revenue = pd.concat([r["revenue"] for r in feat])
            classes = abc_classes(revenue, forecast_cfg["models"]["tiered"]["abc"])
            steps["classes"] = time.perf_counter() - t
            for name, fn, shared in [
                ("forecasts", forecast, {"forecast_cfg": forecast_cfg, "classes": classes}),
                ("plan", plan, {"policy_cfg": policy_cfg, "locations": locations}),
            ]:
                res = step(name, fn, **shared)
                if name == "forecasts":
                    choices = (
                        pd.DataFrame([r["choice"] for r in res])
                        .apply(lambda c: c.value_counts().to_dict())
                        .to_dict()
                    )
                if name == "plan":
                    n_orders = sum(r["orders"] for r in res)
    finally:
        backend.close()
    wall = time.perf_counter() - t_all
    driver_cpu = time.process_time() - cpu0
    series = sum(r["series"] for r in feat)
    task_df = pd.DataFrame(tasks)
    task_cpu = float(task_df["cpu_s"].sum())
    # local: tasks ran in this process, their CPU is already in driver_cpu
    cpu = driver_cpu + (task_cpu if backend_name == "dask" else 0.0)
    worker_rss = (
        task_df.groupby("pid")["rss_mb"].max().round(0).tolist() if backend_name == "dask" else []
    )
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "size": size,
        "backend": backend_name,
        "skus": n_sku,
        "series": series,
        "partitions": n_parts,
        "panel_rows": int(sum(r["rows"] for r in feat)),
        "wall_s": wall,
        "steps_s": steps,
        "cpu_s": cpu,
        # local: the tasks ran (and reset the peak) in this process
        "driver_peak_rss_mb": max(
            _peak_mb(), float(task_df["rss_mb"].max()) if backend_name == "local" else 0.0
        ),
        "worker_peak_rss_mb": worker_rss,
        "task_peak_rss_mb": float(task_df["rss_mb"].max()),
        "cpu_ms_per_series": 1000 * cpu / series,
        "wall_ms_per_series": 1000 * wall / series,
        "tier_choice": choices,
        "orders_suggested": n_orders,
    }


def table(results: list[dict]) -> str:
    rows = [
        "| brand | backend | series | partitions | wall | generate / ingest / features / forecasts / plan (s) | CPU s | CPU ms / series | peak RSS driver / worker (MB) |",
        "|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in results:
        s = r["steps_s"]
        workers = "/".join(f"{w:.0f}" for w in r["worker_peak_rss_mb"]) or "–"
        rows.append(
            f"| x{r['size']} | {r['backend']} | {r['series']:,} | {r['partitions']} | "
            f"{r['wall_s'] / 60:.1f} min | {s['generate']:.0f} / {s['ingest']:.0f} / "
            f"{s['features']:.0f} / {s['forecasts']:.0f} / {s['plan']:.0f} | {r['cpu_s']:.0f} | "
            f"{r['cpu_ms_per_series']:.1f} | {r['driver_peak_rss_mb']:.0f} / {workers} |"
        )
    by = {(r["size"], r["backend"]): r for r in results}
    notes = []
    for b in ("local", "dask"):
        if (1, b) in by and (16, b) in by:
            ratio = by[16, b]["cpu_ms_per_series"] / by[1, b]["cpu_ms_per_series"]
            notes.append(
                f"- {b}: cost per series x16 / x1 = **{ratio:.2f}** (target <= {TARGET_LINEAR}); "
                f"x16 wall {by[16, b]['wall_s'] / 60:.1f} min (target <= {TARGET_16X_MIN:.0f})"
            )
        elif (1, b) in by and (4, b) in by:
            ratio = by[4, b]["cpu_ms_per_series"] / by[1, b]["cpu_ms_per_series"]
            notes.append(f"- {b}: cost per series x4 / x1 = **{ratio:.2f}** (x16 not run here)")
    for size in sorted({r["size"] for r in results}):
        if (size, "local") in by and (size, "dask") in by:
            ratio = by[size, "dask"]["wall_s"] / by[size, "local"]["wall_s"]
            notes.append(
                f"- x{size}: dask wall / local wall = **{ratio:.2f}**"
                + (f" (target <= {TARGET_DASK_OVERHEAD})" if size == 1 else "")
            )
    return "\n".join(rows + [""] + notes)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for b in ("local", "dask"):
        rs = sorted((r for r in results if r["backend"] == b), key=lambda r: r["series"])
        if rs:
            x = [r["series"] for r in rs]
            ax[0].plot(x, [r["cpu_ms_per_series"] for r in rs], "o-", label=b)
            ax[1].plot(x, [r["wall_s"] / 60 for r in rs], "o-", label=b)
    ax[0].set(xscale="log", xlabel="series", ylabel="CPU ms per series", title="cost per series")
    ax[0].set_ylim(bottom=0)
    ax[1].set(xscale="log", yscale="log", xlabel="series", ylabel="wall minutes", title="wall time")
    for a in ax:
        a.legend()
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--backends", nargs="+", default=["local", "dask"])
    ap.add_argument("--base-skus", type=int, default=1000)
    ap.add_argument("--locations", type=int, default=10)
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--series-per-partition", type=int, default=1000)
    ap.add_argument("--min-partitions", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="6GB")
    ap.add_argument("--work", default="/tmp/retail-brain-bench-scale")
    ap.add_argument("--keep", action="store_true", help="keep the generated brands")
    ap.add_argument("--out", default=str(OUT / "bench_scale.json"))
    ap.add_argument("--no-doc", action="store_true", help="do not write docs/BENCHMARKS.md")
    args = ap.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text())["results"] if out.exists() else []
    results = []
    for size in args.sizes:
        for b in args.backends:
            print(f"brand x{size} on {b} ...", flush=True)
            r = run_brand(size, b, args)
            print(
                json.dumps({k: v for k, v in r.items() if k != "tier_choice"}, default=str),
                flush=True,
            )
            results.append(r)
            # keep earlier sizes/backends of other invocations, replace what ran now
            keep = [
                p
                for p in previous
                if (p["size"], p["backend"]) not in {(x["size"], x["backend"]) for x in results}
            ]
            doc = {
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
                "base": {"skus": args.base_skus, "locations": args.locations, "days": args.days},
                "results": sorted(keep + results, key=lambda r: (r["size"], r["backend"])),
            }
            out.write_text(json.dumps(doc, indent=2, default=str))
    allr = json.loads(out.read_text())["results"]
    plot(allr, out.with_suffix(".png"))
    if not args.no_doc:
        shutil.copyfile(out.with_suffix(".png"), REPO / "docs" / "img" / "bench_scale.png")
    text = table(allr)
    print(text)
    if not args.no_doc:
        write_section(
            "bench-scale",
            text
            + "\n\n![cost vs size](img/bench_scale.png)\n\nRaw: `benchmarks/out/bench_scale.json`.",
            "## Scale-out (`make bench-scale`)",
        )


if __name__ == "__main__":
    main()
