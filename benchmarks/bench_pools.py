"""How a global LightGBM should be pooled when the work is partitioned: measured, not assumed.

On the embedded Online Retail SKU x day panel, restricted to the A and B classes (what the
``tiered`` model hands LightGBM), the configured ``lightgbm`` is backtested (the production
refit loop and metrics, 2 windows x 28 days) with ``pool`` = ``all`` (one global model),
``partition`` (one model per feature-store partition, 8) and ``category`` (one model per
category group, 8), on ``backend=local`` and on a 2-worker Dask ``LocalCluster``.

Writes ``benchmarks/out/bench_pools.json`` and the table between the ``bench-pools`` markers of
``docs/BENCHMARKS.md``. ``make bench-pools`` (needs ``make run`` first: reads its feature store).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from omegaconf import OmegaConf

from benchmarks.common import OUT, REPO, write_section
from src.compute import DaskBackend, LocalBackend, use
from src.features import columns as C
from src.features.sets import open_store
from src.forecast.backtest import backtest
from src.forecast.partitioned import revenue_classes
from src.forecast.pipeline import demand, model_factories
from src.forecast.task import backtest_spec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pools", nargs="+", default=["all", "partition", "category"])
    ap.add_argument("--backends", nargs="+", default=["local", "dask"])
    ap.add_argument("--out", default=str(OUT / "bench_pools.json"))
    args = ap.parse_args()
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(REPO / "conf"), version_base="1.3"):
        cfg = OmegaConf.to_container(compose("train_forecast"), resolve=True)
    store = open_store(
        cfg["features"], str(REPO / "data/processed/features"), str(REPO / "data/processed")
    )
    panel, static, _ = demand(store, cfg["features"], cfg["granularity"])
    tiers = cfg["forecast"]["models"]["tiered"]
    top = revenue_classes(panel, tiers["abc"], tiers["lookback_days"])
    ids = set(top.index[top.isin(tiers["top"])])
    panel = panel[panel[C.UNIQUE_ID].isin(ids)].reset_index(drop=True)
    static = static[static[C.UNIQUE_ID].isin(ids)].reset_index(drop=True)
    spec = backtest_spec(cfg["granularity"])
    rows = []
    for b in args.backends:
        backend = (
            LocalBackend(progress=False)
            if b == "local"
            else DaskBackend(n_workers=2, dashboard_address=None, progress=False)
        )
        try:
            with use(backend):
                for pool in args.pools:
                    fcfg = {**cfg["forecast"]}
                    fcfg["models"] = {
                        **fcfg["models"],
                        "lightgbm": {**fcfg["models"]["lightgbm"], "pool": pool},
                    }
                    make = model_factories(fcfg, ["lightgbm"], "D", fcfg["quantiles"])["lightgbm"]
                    t = time.perf_counter()
                    res = backtest(make, panel, static, spec, "D", fcfg["quantiles"])
                    wall = time.perf_counter() - t
                    row = {
                        "backend": b,
                        "pool": pool,
                        "series": len(ids),
                        "wall_s": wall,
                        **{k: res.overall[k] for k in ("wrmsse", "wspl", "bias")},
                    }
                    print(json.dumps(row), flush=True)
                    rows.append(row)
        finally:
            backend.close()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    lines = [
        f"LightGBM (conf/forecast, recursive, Tweedie) backtested on the {len(ids):,} A/B SKUs of "
        "the embedded data (2 windows x 28 days), per pooling and backend, 2 cores:",
        "",
        "| backend | pool | WRMSSE | WSPL | bias | wall (s) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['pool']} | {r['wrmsse']:.4f} | {r['wspl']:.4f} | "
            f"{r['bias']:+.3f} | {r['wall_s']:.0f} |"
        )
    text = "\n".join(lines)
    print(text)
    write_section(
        "bench-pools", text, "## LightGBM pooling under partitioned work (`make bench-pools`)"
    )


if __name__ == "__main__":
    main()
