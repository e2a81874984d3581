"""Choose ensemble members by validation only: `python -m benchmarks.select_ensemble --dataset …`.

Backtests each candidate member over ``--windows`` 28-day windows that end before the benchmark's
test window, keeps their forecasts, and scores every combination of two or more members (equal
weights, quantiles averaged level by level) offline — so no model is refitted per combination and
the test window is never looked at. Prints the combinations by mean validation WRMSSE and writes
``benchmarks/out/select_ensemble_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import warnings

import numpy as np
import pandas as pd

from benchmarks.common import DAILY, OUT, our_models, validation_spec
from src.features import columns as C
from src.forecast.backtest import backtest
from src.forecast.metrics import M5_QUANTILES, Y_HAT, evaluate, quantile_column

log = logging.getLogger("select_ensemble")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", choices=list(DAILY), default="online_retail")
    parser.add_argument("--members", default="exp_smoothing,croston_sba,tsb,lightgbm,lstm,tft")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--override", action="append", default=[])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    warnings.filterwarnings("ignore")
    data = DAILY[args.dataset]()
    train, static = data["train"], data["static"]
    names = args.members.split(",")
    factories = our_models(names, args.override)
    spec = validation_spec(data, args.windows)
    cols = [Y_HAT] + [quantile_column(q) for q in M5_QUANTILES]
    forecasts = {}
    for name in names:
        res = backtest(factories[name], train, static, spec)
        forecasts[name] = res.forecasts.set_index([C.UNIQUE_ID, C.DS, "cutoff"]).sort_index()
        log.info("%s: mean validation wrmsse %.4f", name, res.overall["wrmsse"])
    cutoffs = sorted(forecasts[names[0]].index.get_level_values("cutoff").unique())

    def score(members: tuple[str, ...]) -> dict[str, float]:
        combo = sum(forecasts[m][cols] for m in members) / len(members)
        per_window = []
        for cut in cutoffs:
            fc = combo.xs(cut, level="cutoff").reset_index()
            fc[cols[1:]] = np.maximum.accumulate(fc[cols[1:]].to_numpy(), axis=1)
            actual = (
                forecasts[members[0]]
                .xs(cut, level="cutoff")
                .reset_index()[[C.UNIQUE_ID, C.DS, C.Y]]
            )
            _, overall = evaluate(fc, actual, train[train[C.DS] <= cut])
            per_window.append(overall)
        return {
            k: float(np.mean([w[k] for w in per_window])) for k in ("wrmsse", "wspl", "coverage_95")
        }

    rows = []
    for r in range(1, len(names) + 1):
        for members in itertools.combinations(names, r):
            rows.append({"members": "+".join(members), "size": r, **score(members)})
    table = pd.DataFrame(rows).sort_values("wrmsse").reset_index(drop=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"select_ensemble_{args.dataset}.json").write_text(
        json.dumps(
            {"windows": [str(c.date()) for c in cutoffs], "table": table.to_dict("records")},
            indent=2,
        )
    )
    print(f"validation windows (cutoffs): {[str(c.date()) for c in cutoffs]}")
    print(table.head(15).to_string(float_format=lambda v: f"{v:.4f}"))
    singles = table[table["size"] == 1]
    print("\nsingle members:\n" + singles.to_string(float_format=lambda v: f"{v:.4f}"))
    return {"table": table}


if __name__ == "__main__":
    main()
