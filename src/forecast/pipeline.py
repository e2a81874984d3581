"""The forecasting step of the pipeline, without Hydra: panel -> tracked models -> champion.

``train_forecasts`` builds the demand panel at the configured granularity from the canonical
tables, backtests and registers every configured model in MLflow, promotes by the configured
rule, prints a leaderboard and writes the champion's next-horizon forecast to
``<output>/<registered_model>.parquet`` (what the policy layer and planners read).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import mlflow
import pandas as pd

from src.features import columns as C
from src.features.panel import PanelSpec, demand_panel
from src.features.tables import fingerprint, read_tables
from src.forecast.backtest import BacktestSpec
from src.forecast.factory import factories
from src.forecast.train import ForecastTask, select_series, train_all
from src.tracking import CHAMPION, PromotionRule, configure

log = logging.getLogger(__name__)
EXPERIMENT = "forecast"


def task_from_tables(
    tables_dir: str | Path, granularity: Mapping, holiday_country: str | None, config: Mapping
) -> ForecastTask:
    tables_dir = Path(tables_dir)
    tables = read_tables(tables_dir)
    spec = PanelSpec(
        level=granularity["level"], freq=granularity["freq"], holiday_country=holiday_country
    )
    panel, static = demand_panel(tables.transactions, tables.products, spec)
    panel = select_series(panel, granularity.get("top_n"))
    static = static[static[C.UNIQUE_ID].isin(panel[C.UNIQUE_ID].unique())]
    files = sorted(tables_dir.glob("*.parquet"))
    return ForecastTask(
        panel=panel,
        static=static,
        freq=granularity["freq"],
        spec=backtest_spec(granularity),
        registered_name=granularity["registered_model"],
        data_fingerprint=fingerprint(files),
        config=config,
        holiday_country=holiday_country,
    )


def backtest_spec(granularity: Mapping) -> BacktestSpec:
    return BacktestSpec(
        horizon=int(granularity["horizon"]),
        windows=int(granularity["backtest_windows"]),
        step=int(granularity["backtest_step"]),
        known_covariates=tuple(granularity["known_covariates"]),
    )


def train_forecasts(
    task: ForecastTask, forecast_cfg: Mapping, tracking_cfg: Mapping, output: str | Path
) -> dict:
    configure(tracking_cfg["uri"], EXPERIMENT, tracking_cfg["artifact_root"])
    models = factories(
        forecast_cfg["train"], forecast_cfg["models"], task.freq, forecast_cfg["quantiles"]
    )
    task.quantiles = tuple(forecast_cfg["quantiles"])
    rule = PromotionRule(**forecast_cfg["promotion"])
    log.info(
        "forecasting %d series (%s), models: %s",
        task.panel[C.UNIQUE_ID].nunique(),
        task.registered_name,
        ", ".join(models),
    )
    board, decision = train_all(models, task, rule)
    champion = mlflow.pyfunc.load_model(f"models:/{task.registered_name}@{CHAMPION}")
    forecast = champion.predict(pd.DataFrame({"h": [task.spec.horizon]}))
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / f"{task.registered_name}.parquet"
    forecast.to_parquet(path, index=False)
    print(leaderboard_text(board, decision, rule.metric, path), flush=True)
    return {"leaderboard": board, "decision": decision, "forecast_path": str(path)}


def leaderboard_text(board: pd.DataFrame, decision: Mapping, metric: str, path: Path) -> str:
    cols = [
        c
        for c in ["model", metric, "val/rmsse_mean", "val/wspl", "val/coverage_95", "val/bias"]
        if c in board
    ]
    lines = [
        "",
        f"=== forecast leaderboard ({decision['model']}, sorted by {metric}) ===",
        board[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"),
        "",
        f"champion: version {decision['champion_version']} ({decision['reason']}); "
        f"challenger: version {decision['challenger_version']}",
        f"champion forecast written to {path}",
    ]
    return "\n".join(lines)
