"""Compare a task's runs: leaderboard with paired-bootstrap verdicts and a self-contained report.

``compare_runs`` is what ``python -m pipelines.compare`` does, without Hydra: the task's runs
(filtered), the reference run (champion or baseline), per-unit evidence of each run, a paired
bootstrap of every run against the reference, the leaderboard, and an HTML report with the
metric by model, per-unit distributions, the bootstrap intervals and the task's own evidence
plot (forecast vs actual, recall by lifecycle stage, fill rate vs days of cover).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from mlflow import MlflowClient

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
from src.review.runs import champion_run, load_runs, unit_values
from src.tracking.bootstrap import paired_bootstrap
from src.tracking.leaderboard import format_leaderboard, leaderboard
from src.tracking.tasks import TaskSpec

log = logging.getLogger(__name__)


def compare_runs(client: MlflowClient, spec: TaskSpec, c: Mapping) -> dict:
    """``c``: the ``compare`` settings (filters, level, n_boot, seed, series, output, top)."""
    df = load_runs(client, spec, c)
    champ = champion_run(df, spec, c.get("baseline"))
    units, comparisons = {}, {}
    for r in df.itertuples():
        try:
            units[r.run_id] = unit_values(r.run_id, spec)
        except Exception as err:  # noqa: BLE001 - runs logged before per-unit artifacts existed
            log.warning(
                "run %s (%s) has no %s: %s", r.run_id[:8], r.model, spec.evidence.artifact, err
            )
    for r in df.itertuples():
        if r.run_id == champ or r.run_id not in units or champ not in units:
            continue
        comparisons[r.run_id] = paired_bootstrap(
            units[champ],
            units[r.run_id],
            spec.evidence.higher_is_better,
            float(c["level"]),
            int(c["n_boot"]),
            int(c["seed"]),
        ).as_dict()
    board = leaderboard(df, spec, champ, comparisons)
    names = dict(zip(df["run_id"], df["model"], strict=True))
    ev = spec.evidence
    notes = [
        f"{len(df)} runs of experiment '{c.get('experiment') or spec.experiment}'; reference: "
        f"{names[champ]} (run {champ[:8]}); primary metric {spec.metric}.",
        f"Paired bootstrap over {ev.unit} of per-{ev.unit} {ev.metric}, {c['n_boot']} resamples, "
        f"{1 - float(c['level']):.0%} interval: a gain is real when the whole interval lies on "
        "the better side of zero.",
    ]
    figures = {f"{spec.metric} by model": png(metric_by_model(df, spec, champ))}
    if units:
        figures[f"per-{ev.unit} {ev.metric} distributions"] = png(
            unit_distributions({names[r]: v for r, v in units.items()}, spec)
        )
    if comparisons:
        figures["challenger - reference with bootstrap intervals"] = png(
            bootstrap_forest(comparisons, names, spec, float(c["level"]))
        )
    figures.update(evidence_figures(client, spec, c, board, champ, units, names, notes))
    out = Path(c["output"])
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"compare_{spec.name}.html"
    path.write_text(html_page(spec.name, board, figures, notes))
    print(
        format_leaderboard(
            board, f"{spec.name} leaderboard (reference: {names[champ]})", int(c["top"])
        ),
        flush=True,
    )
    print(f"report: {path}", flush=True)
    return {
        "leaderboard": board,
        "comparisons": comparisons,
        "report": str(path),
        "champion": champ,
    }


def evidence_figures(client, spec: TaskSpec, c, board, champ, units, names, notes) -> dict:
    """The task's own evidence plot (by the kind of unit it is judged on)."""
    if spec.nested_runs:
        return {"fill rate vs days of cover": png(policy_tradeoff(board))}
    if spec.evidence.key == "customer_id":
        fig = segment_recall(board, client)
        return (
            {"recall by lifecycle stage, frequency and repeat vs explore": png(fig)}
            if fig is not None
            else {}
        )
    best = board[board["run_id"] != champ]["run_id"].head(1).tolist()
    series = [str(x) for x in c.get("series") or []]
    if not series and best and best[0] in units and champ in units:
        moved = (units[best[0]] - units[champ]).dropna().abs().sort_values(ascending=False)
        series = moved.index[:4].tolist()  # where champion and challenger differ most
    notes.append(
        f"Forecast vs actual (last backtest window) for: {', '.join(series) or 'the logged sample'}."
    )
    figures = {}
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
    return figures


def run_compare(config: Mapping) -> dict:
    """`make compare task=…`: the task's runs compared (leaderboard, evidence, HTML report)."""
    import os

    import mlflow

    from src.tracking.tasks import select

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a clean table
    spec = select(config["tasks"], config["task"])
    mlflow.set_tracking_uri(config["tracking"]["uri"])
    return compare_runs(mlflow.MlflowClient(), spec, config["compare"])
