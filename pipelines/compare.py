"""Compare runs in MLflow: leaderboard in the terminal, self-contained HTML report with plots.

python -m pipelines.compare task=forecast
python -m pipelines.compare task=recsys 'compare.models=[hybrid,buy_again]' compare.since=2026-11-01
python -m pipelines.compare task=policy "compare.baseline='rule_of_thumb[days=45]'"
python -m pipelines.compare task=forecast 'compare.run_ids=[<id>,<id>]' compare.level=0.01
python -m pipelines.compare task=forecast 'compare.series=[85123A,22423]'   # plot these series
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
import mlflow
from omegaconf import DictConfig, OmegaConf

from src.review.bootstrap import paired_bootstrap
from src.review.report import (
    artifact_png,
    bootstrap_forest,
    chosen_series,
    html_page,
    metric_by_model,
    png,
    policy_tradeoff,
    segment_recall,
    unit_distributions,
)
from src.review.runs import TASKS, champion_run, leaderboard, load_runs, unit_values

log = logging.getLogger(__name__)
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a clean terminal table


def run(cfg: DictConfig) -> dict:
    task = cfg.task
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    c = OmegaConf.to_container(cfg.compare, resolve=True)
    mlflow.set_tracking_uri(cfg.tracking.uri)
    client = mlflow.MlflowClient()
    spec = TASKS[task]
    df = load_runs(client, task, c)
    champ = champion_run(df, task, c.get("baseline"))
    units, comparisons = {}, {}
    for r in df.itertuples():
        try:
            units[r.run_id] = unit_values(r.run_id, task)
        except Exception as err:  # noqa: BLE001 - runs logged before per-unit artifacts existed
            log.warning("run %s (%s) has no %s: %s", r.run_id[:8], r.model, spec.unit_artifact, err)
    for r in df.itertuples():
        if r.run_id == champ or r.run_id not in units or champ not in units:
            continue
        comparisons[r.run_id] = paired_bootstrap(
            units[champ],
            units[r.run_id],
            spec.higher_is_better,
            float(c["level"]),
            int(c["n_boot"]),
            int(c["seed"]),
        ).as_dict()
    board = leaderboard(df, task, champ, comparisons)
    names = dict(zip(df["run_id"], df["model"], strict=True))
    champ_name = names[champ]
    notes = [
        f"{len(df)} runs of experiment '{spec.experiment}'; reference (champion): {champ_name} "
        f"(run {champ[:8]}); primary metric {spec.metric}.",
        f"Paired bootstrap over {spec.unit_key.replace('_id', '')}s of per-unit {spec.unit_metric}, "
        f"{c['n_boot']} resamples, {1 - float(c['level']):.0%} interval: a gain is real when the "
        "whole interval lies on the better side of zero.",
    ]
    figures = {f"{spec.metric} by model": png(metric_by_model(df, task, champ))}
    if units:
        figures[f"per-unit {spec.unit_metric} distributions"] = png(
            unit_distributions({names[r]: v for r, v in units.items()}, task)
        )
    if comparisons:
        figures["challenger - champion with bootstrap intervals"] = png(
            bootstrap_forest(comparisons, names, task, float(c["level"]))
        )
    if task == "forecast":
        best = board[board["run_id"] != champ]["run_id"].head(1).tolist()
        series = [str(x) for x in c.get("series") or []]
        if not series and best and best[0] in units and champ in units:
            moved = (units[best[0]] - units[champ]).dropna().abs().sort_values(ascending=False)
            series = moved.index[:4].tolist()  # where champion and challenger differ most
        notes.append(
            f"Forecast vs actual (last backtest window) for: {', '.join(series) or 'the logged sample'}."
        )
        for rid in [champ, *best]:
            fig = (
                chosen_series(client, rid, series, f"{names[rid]}: last backtest window")
                if series
                else None
            )
            figures[f"forecast vs actual: {names[rid]}"] = (
                png(fig)
                if fig is not None
                else artifact_png(client, rid, "plots/forecast_vs_actual.png")
            )
    elif task == "recsys":
        fig = segment_recall(df, client)
        if fig is not None:
            figures["recall by lifecycle segment"] = png(fig)
    else:
        figures["fill rate vs days of cover"] = png(policy_tradeoff(df))
    out = Path(c["output"])
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"compare_{task}.html"
    path.write_text(html_page(task, board, figures, notes))
    show = board.drop(columns=["run_id"]).head(int(c["top"]))
    print(f"\n=== {task} leaderboard (reference: {champ_name}) ===", flush=True)
    print(show.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep=""), flush=True)
    print(f"report: {path}", flush=True)
    return {
        "leaderboard": board,
        "comparisons": comparisons,
        "report": str(path),
        "champion": champ,
    }


@hydra.main(version_base="1.3", config_path="../conf", config_name="compare")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except (LookupError, ValueError) as err:
        log.error("stopped: %s", err)
        sys.exit(2)


if __name__ == "__main__":
    main()
