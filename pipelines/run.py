"""The main job (`make run`): every step in order on the configured data.

ingest -> features -> forecasts -> recommendations -> CLV -> audiences -> campaign measurement ->
reorder plan -> KPIs and alerts (the last step; `make serve` packages the champions it promoted, `make console` shows the results). `steps=[ingest,build_features]` runs a part, in the same
order (the data benchmark times exactly that).
"""

from __future__ import annotations

import logging
import time

from pipelines import (
    audiences,
    build_features,
    clv,
    ingest,
    measure_campaigns,
    monitor,
    plan_inventory,
    train_forecast,
    train_recsys,
)
from pipelines.entry import entry_point

log = logging.getLogger(__name__)
STEPS = [
    ("ingest", ingest.run),
    ("build_features", build_features.run),
    ("train_forecast", train_forecast.run),
    ("train_recsys", train_recsys.run),
    ("clv", clv.run),
    ("audiences", audiences.run),
    ("measure_campaigns", measure_campaigns.run),
    ("plan_inventory", plan_inventory.run),
    ("monitor", monitor.run),
]


def run_steps(config: dict) -> dict:
    known = [name for name, _ in STEPS]
    unknown = [s for s in config["steps"] if s not in known]
    if unknown:
        raise ValueError(f"steps {unknown} unknown; the steps are {known}")
    steps = [(name, step) for name, step in STEPS if name in set(config["steps"])]
    results = {}
    t0 = time.perf_counter()
    for i, (name, step) in enumerate(steps, 1):
        log.info("[step %d/%d] %s ...", i, len(steps), name)
        t = time.perf_counter()
        results[name] = step(config)
        log.info("[step %d/%d] %s done in %.1f s", i, len(steps), name, time.perf_counter() - t)
    log.info("all %d steps done in %.1f s", len(steps), time.perf_counter() - t0)
    return results


run, main = entry_point("run", run_steps, backend=True)

if __name__ == "__main__":
    main()
