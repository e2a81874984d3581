"""Choose a model's configuration on validation windows only, every variant a tracked MLflow run.

    python -m benchmarks.validate_variants --dataset online_retail --model lightgbm \
        --variant "window180:forecast.models.lightgbm.train_window=180" \
        --variant "poisson:forecast.models.lightgbm.objective=poisson;++forecast.models.lightgbm.num_leaves=135"

A variant is ``NAME:OVERRIDE[;OVERRIDE...]`` (Hydra overrides of ``train_forecast``); the model as
configured is always the first variant, ``configured``. Each one is backtested over ``--windows``
28-day windows that end before the benchmark's test window (the windows `select_ensemble` uses),
so the test window is never looked at. Each variant is one run of the MLflow experiment
``forecast-validation`` (its overrides, the windows, the mean and per-window scores, the time);
the best by mean validation WRMSSE is tagged ``chosen``. Prints the table and writes
``benchmarks/out/validate_<dataset>_<model>.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import warnings
from collections.abc import Callable, Mapping

import mlflow
import pandas as pd

from benchmarks.common import DAILY, OUT, REPO, our_models, validation_spec
from src.forecast.backtest import BacktestSpec, backtest
from src.outputs.catalogue import git_commit
from src.tracking import configure

log = logging.getLogger("validate_variants")
EXPERIMENT = "forecast-validation"


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, sep, overrides = text.partition(":")
    if not sep or not name.strip() or not overrides.strip():
        raise ValueError(f"--variant {text!r}: expected NAME:OVERRIDE[;OVERRIDE...]")
    return name.strip(), [o.strip() for o in overrides.split(";") if o.strip()]


def validate(
    variants: Mapping[str, list[str]],
    factory_of: Callable[[list[str]], Callable],
    data: Mapping,
    spec: BacktestSpec,
    tags: Mapping[str, str],
) -> pd.DataFrame:
    """Backtest every variant on the validation windows, one MLflow run each (the active
    experiment); returns the table sorted by mean WRMSSE and tags the best run ``chosen``."""
    rows = []
    for name, overrides in variants.items():
        factory = factory_of(overrides)
        with mlflow.start_run(run_name=f"{tags['dataset']}-{tags['model']}-{name}") as run:
            t0 = time.perf_counter()
            res = backtest(factory, data["train"], data["static"], spec)
            seconds = time.perf_counter() - t0
            per_window = [float(w["wrmsse"]) for w in res.per_window]
            metrics = {
                "val/wrmsse": float(res.overall["wrmsse"]),
                "val/wspl": float(res.overall.get("wspl", float("nan"))),
                "time/backtest_s": seconds,
                **{f"val/wrmsse_w{i + 1}": v for i, v in enumerate(per_window)},
            }
            mlflow.log_params({"variant": name, "overrides": "; ".join(overrides) or "(none)"})
            mlflow.set_tags({**tags, "git_commit": git_commit()})
            mlflow.log_metrics(metrics)
        log.info("%s: mean validation wrmsse %.4f (%.0f s)", name, metrics["val/wrmsse"], seconds)
        rows.append(
            {
                "variant": name,
                "overrides": "; ".join(overrides),
                **metrics,
                "run_id": run.info.run_id,
            }
        )
    table = pd.DataFrame(rows).sort_values("val/wrmsse").reset_index(drop=True)
    client = mlflow.MlflowClient()
    for i, run_id in enumerate(table["run_id"]):  # sorted: the first row is the best
        client.set_tag(run_id, "chosen", str(i == 0).lower())
    return table


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=list(DAILY), default="online_retail")
    parser.add_argument("--model", default="lightgbm")
    parser.add_argument("--variant", action="append", default=[], help="NAME:OVERRIDE[;...]")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--tracking-uri", default=f"sqlite:///{REPO / 'mlruns' / 'mlflow.db'}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    warnings.filterwarnings("ignore")
    variants = {"configured": []}
    for text in args.variant:
        name, overrides = parse_variant(text)
        if name in variants:
            parser.error(f"variant {name!r} given twice")
        variants[name] = overrides
    data = DAILY[args.dataset]()
    spec = validation_spec(data, args.windows)
    configure(args.tracking_uri, EXPERIMENT, REPO / "mlruns" / "artifacts")
    table = validate(
        variants,
        lambda overrides: our_models([args.model], overrides)[args.model],
        data,
        spec,
        {"dataset": args.dataset, "model": args.model, "windows": str(args.windows)},
    )
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"validate_{args.dataset}_{args.model}.json"
    path.write_text(json.dumps({"table": table.to_dict("records")}, indent=2))
    shown = table.drop(columns=["run_id"])
    print(shown.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"\nchosen: {table.loc[0, 'variant']} (MLflow experiment {EXPERIMENT!r}; {path})")
    return table


if __name__ == "__main__":
    main()
