"""`make bench-monitor`: KPI speed and memory, anomaly detection against a naive peer, console
render times in a real browser (after `make run`).

1. **KPIs** on the full embedded data (≈1 M lines): the KPI computation of `make monitor` (read
   the tables, sales KPIs by day/week x 5 dimensions, stock and model KPIs, write) in a child
   process — wall time and peak RSS — beside the peer "read the transactions table only" and the
   whole `python -m pipelines.monitor` (alerts, store, delivery included).
2. **Anomalies**: daily KPI series (net sales, orders, units, active customers by total /
   channel / location / category) of the seeded synthetic brand (two seeds) and of Online
   Retail; one planted anomaly per series in the last 28 days — a spike (x2.5), a drop (x0.2) or a
   level shift (x0.4 from that day on), chosen at random. An event counts as detected when a
   point is flagged on its day (within its first 3 days for a shift); false alerts are flagged
   points outside every event. Detectors: our forecast band (`conf/monitor`: the anomaly rule's
   model and quantiles, chosen on synthetic seeds 3-4; seeds 1-2 are reported) and the naive peer, a trailing 28-day mean +- 3 (and 2) standard deviations.
3. **Console**: `python -m pipelines.console` on the embedded data, Debian's chromium through
   Playwright; every page loaded 12 times, timed from navigation to its content being drawn
   (server + browser); p50 / p95 per page. ``--screenshots`` saves each page to ``docs/img``.

Writes ``benchmarks/out/monitor.json`` and its section of ``docs/BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import OUT, REPO, write_section

TABLES = REPO / "data" / "processed"
W = 28
KPI_SERIES = ["net_sales", "orders", "units", "active_customers"]
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
PAGES = {
    "overview": "#tile-net_sales .value",
    "alerts": "#al-table",
    "planning": "#pl-table td",
    "customers": "#cu-sizes .main-svg",
    "models": "#mo-table td",
}


def compose(name: str) -> dict:
    """The resolved config ``name`` as the pipelines get it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return OmegaConf.to_container(hydra_compose(config_name=name), resolve=True)


# --- 1. KPIs --------------------------------------------------------------------------------------
def kpi_child() -> None:
    """Run in a child: the KPI computation of `make monitor` alone; prints seconds and peak RSS."""
    from src import outputs
    from src.monitor import kpis as K
    from src.monitor.pipeline import data_kpis

    config = compose("monitor")
    t = time.perf_counter()
    kpis = K.concat(data_kpis(config)[3])
    outputs.write({"monitor": str(OUT / "monitor_kpis")}, "kpis", kpis)
    seconds = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(json.dumps({"seconds": seconds, "peak_gb": rss, "rows": len(kpis)}))


def read_child() -> None:
    from src.features.tables import read_table

    t = time.perf_counter()
    read_table(TABLES, "transactions")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(json.dumps({"seconds": time.perf_counter() - t, "peak_gb": rss}))


def child(mode: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "benchmarks.bench_monitor", "--child", mode],
                       cwd=REPO, capture_output=True, text=True, timeout=900)  # fmt: skip
    if r.returncode:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def kpi_bench() -> dict:
    out = {"kpis": child("kpis"), "read_transactions": child("read")}
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pipelines.monitor"], cwd=REPO,
                       capture_output=True, text=True, timeout=900)  # fmt: skip
    if r.returncode:
        raise RuntimeError(r.stderr[-3000:])
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    out["make_monitor"] = {"seconds": time.perf_counter() - t, "peak_gb_children_max": rss}
    return out


# --- 2. anomalies ---------------------------------------------------------------------------------
def kpi_frame(lines: pd.DataFrame, min_open: float) -> pd.DataFrame:
    from src.monitor import kpis as K

    k = K.sales_kpis(lines, ["day"], ["total", "channel", "location", "category"])
    k = k[k[K.KPI_COL].isin(KPI_SERIES)]
    k = k.assign(uid=k[K.KPI_COL] + "|" + k[K.DIMENSION] + "|" + k[K.MEMBER])
    wide = k.pivot_table(index=K.PERIOD, columns="uid", values=K.VALUE).asfreq("D").fillna(0.0)
    wide = wide.iloc[-400:]
    return wide.loc[:, (wide > 0).mean() >= min_open]


def synthetic_series(seed: int) -> pd.DataFrame:
    from src.features import columns as C
    from src.features.adapters.synthetic import generate
    from src.monitor import kpis as K

    data = generate(seed=seed, n_people=3000, n_skus=150, days=400, orders_per_day=120)
    tx = pd.concat(data.raw.values(), ignore_index=True)
    tx[C.LINE_TYPE] = np.where(tx[C.QTY] > 0, C.LINE_SALE, C.LINE_RETURN)
    products = tx[[C.SKU, C.CATEGORY]].drop_duplicates(C.SKU).assign(**{C.UNIT_COST: np.nan})
    return kpi_frame(K.sales_lines(tx, products), 0.9)


def online_retail_series() -> pd.DataFrame:
    from src.features.tables import read_table
    from src.monitor import kpis as K

    tx = read_table(TABLES, "transactions")
    lines = K.sales_lines(tx, read_table(TABLES, "products"))
    return kpi_frame(lines, 0.8)  # no trading on Saturdays: at most 6/7 of days are open


def plant(full: pd.DataFrame, seed: int):
    rng = np.random.default_rng(seed)
    Y = full.copy()
    T = len(Y)
    label = np.zeros(Y.shape, dtype=int)  # 1: counts for recall; 2: shifted, not scored
    events = []
    for j, c in enumerate(Y.columns):
        kind = ["spike", "drop", "shift"][rng.integers(0, 3)]
        t = T - W + int(rng.integers(0, W - 3))
        while Y.iloc[t, j] == 0:  # a trading day
            t += 1
        if kind == "spike":
            Y.iloc[t, j] *= 2.5
            label[t, j] = 1
        elif kind == "drop":
            Y.iloc[t, j] *= 0.2
            label[t, j] = 1
        else:
            Y.iloc[t:, j] *= 0.4
            label[t:, j] = 2
            label[t : t + 3, j] = 1
        events.append((c, kind))
    return Y, label, events


def score(flags: pd.DataFrame, Y: pd.DataFrame, label: np.ndarray, events) -> dict:
    L = pd.DataFrame(label, index=Y.index, columns=Y.columns).stack().rename("lab").reset_index()
    L.columns = ["ds", "unique_id", "lab"]
    f = flags.merge(L, on=["unique_id", "ds"])
    hit = f[f["lab"] == 1].groupby("unique_id")["anomaly"].apply(lambda s: bool((s != 0).any()))
    det = {c: bool(hit.get(c, False)) for c, _ in events}
    out = {"recall": float(np.mean(list(det.values()))),
           "false_alert_rate": float((f.loc[f["lab"] == 0, "anomaly"] != 0).mean())}  # fmt: skip
    for kind in ("spike", "drop", "shift"):
        ks = [det[c] for c, k in events if k == kind]
        out[f"recall_{kind}"] = float(np.mean(ks)) if ks else None
    return out


def anomaly_bench() -> dict:
    from hydra.utils import instantiate

    from src.monitor import anomaly as A

    monitor = compose("monitor")["monitor"]
    model_cfg = monitor["anomaly_model"]
    rule = next(r for r in monitor["rules"] if r["kind"] == "anomaly")  # `make monitor`'s band
    lo, hi = float(rule["lo"]), float(rule["hi"])

    def make(q):
        return instantiate(model_cfg, quantiles=list(q))

    sets = {f"synthetic seed {s}": (lambda s=s: synthetic_series(s)) for s in (1, 2)}
    sets["Online Retail"] = online_retail_series
    out = {}
    for name, build in sets.items():
        full = build()
        Y, label, events = plant(full, seed=len(out))
        panel = Y.rename_axis(index="ds", columns="unique_id").stack().rename("y").reset_index()
        res = {"series": int(Y.shape[1]), "band": [lo, hi]}
        t = time.perf_counter()
        band = A.forecast_band(panel, make, W, lo, hi)
        res["forecast band (ours)"] = {**score(band, Y, label, events),
                                       "seconds": time.perf_counter() - t}  # fmt: skip
        for k in (3.0, 2.0):
            t = time.perf_counter()
            z = A.zscore_flags(panel, W, k=k)
            res[f"peer: trailing mean +- {k:.0f} sd"] = {**score(z, Y, label, events),
                                                         "seconds": time.perf_counter() - t}  # fmt: skip
        out[name] = res
        print(name, json.dumps(res, indent=1))
    return out


# --- 3. console -----------------------------------------------------------------------------------
def console_bench(reps: int, screenshots: Path | None) -> dict:
    from playwright.sync_api import sync_playwright

    from src.console.auth import entry
    from src.serve.process import free_port, wait_ready

    port = free_port()
    env = {**os.environ, "RETAIL_BRAIN_CONSOLE_USERS": entry("bench", "admin", "bench-pass-123")}
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.console", f"console.port={port}"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc, timeout=240, path="/healthz")
    times: dict[str, list[float]] = {p: [] for p in PAGES}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/login")
            page.fill("#username", "bench")
            page.fill("#password", "bench-pass-123")
            page.click("#login")
            page.wait_for_selector(PAGES["overview"])
            for i in range(reps + 1):
                for name, selector in PAGES.items():
                    t = time.perf_counter()
                    page.goto(f"{url}/{name}")
                    page.wait_for_selector(selector, timeout=30_000)
                    page.wait_for_load_state("networkidle")
                    if i:  # the first round warms the browser cache
                        times[name].append(time.perf_counter() - t)
                    elif screenshots is not None:
                        page.wait_for_timeout(500)
                        page.screenshot(path=str(screenshots / f"console-{name}.png"),
                                        full_page=True)  # fmt: skip
            browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    return {
        name: {"p50_s": float(np.quantile(v, 0.5)), "p95_s": float(np.quantile(v, 0.95)),
               "n": len(v)}
        for name, v in times.items()
    }  # fmt: skip


def targets(res: dict) -> list[str]:
    rows = ["| target (issue 14) | measured | |", "| --- | --- | --- |"]
    k = res.get("kpis")
    if k:
        ok = k["kpis"]["seconds"] <= 15 and k["kpis"]["peak_gb"] <= 2
        rows.append(f"| KPI computation ≤ 15 s and ≤ 2 GB | {k['kpis']['seconds']:.1f} s, "
                    f"{k['kpis']['peak_gb']:.2f} GB | {'met' if ok else 'missed'} |")  # fmt: skip
    for name, r in (res.get("anomalies") or {}).items():
        m = r["forecast band (ours)"]
        ok = m["recall"] >= 0.9 and m["false_alert_rate"] <= 0.05
        peers = [v for d, v in r.items() if d.startswith("peer") and v["false_alert_rate"] <= 0.05]
        best = max((v["recall"] for v in peers), default=float("nan"))
        rows.append(f"| anomaly recall ≥ 0.9 at ≤ 5 % false alerts, {name} | recall "
                    f"{m['recall']:.3f} at {m['false_alert_rate']:.1%} (best peer within 5 %: "
                    f"{best:.3f}) | {'met' if ok else 'missed'} |")  # fmt: skip
    c = res.get("console")
    if c:
        worst = max(v["p95_s"] for v in c.values())
        rows.append(f"| console page p95 ≤ 1 s (browser-measured) | worst page {worst:.3f} s | "
                    f"{'met' if worst <= 1 else 'missed'} |")  # fmt: skip
    return [*rows, ""]


def report(res: dict) -> str:
    k = res.get("kpis")
    lines = ["Machine: 2 cores, 24 GiB, no GPU; `make bench-monitor` after `make run`.", "",
             *targets(res)]  # fmt: skip
    if k:
        lines += [
            "**KPI computation** on the full embedded data (1,033,027 lines; day + week x total /",
            "channel / location / category / segment, stock KPIs from the plan), child processes:",
            "",
            "| what | wall s | peak GB |",
            "| --- | --- | --- |",
            f"| KPI computation (target ≤ 15 s, ≤ 2 GB) | {k['kpis']['seconds']:.1f} | "
            f"{k['kpis']['peak_gb']:.2f} |",
            f"| peer: read the transactions table only | {k['read_transactions']['seconds']:.1f} | "
            f"{k['read_transactions']['peak_gb']:.2f} |",
            f"| whole `python -m pipelines.monitor` (alerts, store, delivery) | "
            f"{k['make_monitor']['seconds']:.1f} | {k['make_monitor']['peak_gb_children_max']:.2f} |",
            "",
            f"KPI rows: {k['kpis']['rows']:,}; ratio to reading the table alone: "
            f"{k['kpis']['seconds'] / k['read_transactions']['seconds']:.1f}x.",
            "",
        ]
    a = res.get("anomalies")
    if a:
        lines += [
            "**Anomaly detection** (one planted anomaly per series in the last 28 days: spike x2.5,",
            "drop x0.2 or level shift x0.4; our band: the configured anomaly rule's quantiles,",
            "chosen on synthetic seeds 3-4, never on these; target recall ≥ 0.9 at ≤ 5 % false",
            "alerts):",
            "",
            "| series | detector | recall | false alerts | spike | drop | shift | s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, r in a.items():
            for det, m in r.items():
                if det in ("series", "band"):
                    continue
                lines.append(
                    f"| {name} ({r['series']}) | {det} | {m['recall']:.3f} | "
                    f"{m['false_alert_rate']:.3f} | {m['recall_spike']:.2f} | "
                    f"{m['recall_drop']:.2f} | {m['recall_shift']:.2f} | {m['seconds']:.1f} |"
                )
        lines.append("")
    c = res.get("console")
    if c:
        lines += [
            "**Console** render time per page (Playwright + Debian chromium on the same 2 cores,",
            "from navigation to the page's content drawn and the network idle; target p95 ≤ 1 s):",
            "",
            "| page | p50 s | p95 s | loads |",
            "| --- | --- | --- | --- |",
            *[f"| {p} | {v['p50_s']:.3f} | {v['p95_s']:.3f} | {v['n']} |" for p, v in c.items()],
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", choices=["kpis", "read"])
    ap.add_argument("--parts", default="kpis,anomalies,console")
    ap.add_argument("--reps", type=int, default=12)
    ap.add_argument("--screenshots", type=Path, default=None)
    args = ap.parse_args()
    if args.child == "kpis":
        return kpi_child()
    if args.child == "read":
        return read_child()
    OUT.mkdir(parents=True, exist_ok=True)
    parts = set(args.parts.split(","))
    res = {}
    if "kpis" in parts:
        res["kpis"] = kpi_bench()
        print(json.dumps(res["kpis"], indent=1))
    if "anomalies" in parts:
        res["anomalies"] = anomaly_bench()
    if "console" in parts:
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
        res["console"] = console_bench(args.reps, args.screenshots)
        print(json.dumps(res["console"], indent=1))
    (OUT / "monitor.json").write_text(json.dumps(res, indent=1, default=str))
    text = report(res)
    write_section("bench-monitor", text, "## Monitor and console (`make bench-monitor`)")
    print(text)


if __name__ == "__main__":
    main()
