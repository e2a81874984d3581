"""Runs of one task from MLflow, filtered, with the champion marked and per-unit results.

Task settings (``TASKS``): the experiment, the primary metric and its direction, the columns a
reviewer reads first, and the per-unit artifact (series or customers) the paired bootstrap runs on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import mlflow
import pandas as pd
from mlflow import MlflowClient

from src.tracking import CHALLENGER, CHAMPION


@dataclass(frozen=True)
class TaskSpec:
    experiment: str
    metric: str
    higher_is_better: bool
    columns: tuple[str, ...]
    unit_artifact: str
    unit_key: str
    unit_metric: str


TASKS = {
    "forecast": TaskSpec(
        "forecast",
        "val/wrmsse",
        False,
        ("val/wrmsse", "val/wspl", "val/mase_mean", "val/coverage_95", "val/bias", "time/total_s"),
        "per_series_metrics.json",
        "unique_id",
        "rmsse",
    ),
    "recsys": TaskSpec(
        "recsys",
        "val/all/recall_at_20",
        True,
        (
            "val/all/recall_at_20",
            "val/all/ndcg_at_20",
            "val/new/recall_at_20",
            "val/cold/recall_at_20",
            "val/all/coverage_at_20",
            "time/fit_s",
        ),
        "per_customer_metrics.json",
        "customer_id",
        "recall",
    ),
    "policy": TaskSpec(
        "policy",
        "sim/fill_rate",
        True,
        (
            "sim/fill_rate",
            "sim/days_of_cover",
            "sim/value_fill_rate",
            "sim/cycle_service_level",
            "sim/stockout_days",
            "sim/orders_placed",
        ),
        "per_series_kpis.json",
        "unique_id",
        "fill_rate",
    ),
}


def load_runs(client: MlflowClient, task: str, filters: Mapping) -> pd.DataFrame:
    """One row per run: name, model, times, commit, fingerprint, metrics, registry aliases."""
    spec = TASKS[task]
    exp = client.get_experiment_by_name(filters.get("experiment") or spec.experiment)
    if exp is None:
        raise LookupError(
            f"no MLflow experiment {spec.experiment!r} in {client.tracking_uri}; run `make run` first"
        )
    clauses = ["attributes.status = 'FINISHED'"]
    for k, v in (filters.get("tags") or {}).items():
        clauses.append(f"tags.`{k}` = '{v}'")
    runs = client.search_runs([exp.experiment_id], " and ".join(clauses), max_results=5000)
    rows = []
    for r in runs:
        tags = r.data.tags
        if task == "policy" and "mlflow.parentRunId" not in tags:
            continue  # policy parents hold the plan; their children are the policies compared
        if task != "policy" and "mlflow.parentRunId" in tags:
            continue  # tuning trials are nested under their study
        rows.append(
            {
                "run_id": r.info.run_id,
                "model": tags.get("model") or tags.get("policy") or r.info.run_name,
                "run_name": r.info.run_name,
                "parent_run_id": tags.get("mlflow.parentRunId"),
                "start": pd.Timestamp(r.info.start_time, unit="ms", tz="UTC"),
                "duration_s": ((r.info.end_time or r.info.start_time) - r.info.start_time) / 1000,
                "git_commit": tags.get("git_commit", tags.get("mlflow.source.git.commit", ""))[:10],
                "data_fingerprint": tags.get("data_fingerprint", "")[:10],
                "description": tags.get("mlflow.note.content", ""),
                **{m: r.data.metrics.get(m) for m in set(spec.columns) | {spec.metric}},
            }
        )
    df = pd.DataFrame(rows)
    if df.empty:
        raise LookupError(f"no finished runs in experiment {exp.name!r} match the filters")
    df = _filter(df, task, filters)
    df["alias"] = [_aliases(client, rid) for rid in df["run_id"]]
    return df.reset_index(drop=True)


def _filter(df: pd.DataFrame, task: str, f: Mapping) -> pd.DataFrame:
    if f.get("run_ids"):
        df = df[df["run_id"].isin(list(f["run_ids"]))]
    if f.get("models"):
        df = df[df["model"].isin(list(f["models"]))]
    if f.get("since"):
        df = df[df["start"] >= pd.Timestamp(f["since"], tz="UTC")]
    if f.get("until"):
        df = df[df["start"] <= pd.Timestamp(f["until"], tz="UTC") + pd.Timedelta(days=1)]
    if task == "policy" and not f.get("run_ids") and len(df):
        latest_parent = df.sort_values("start")["parent_run_id"].iloc[-1]
        df = df[df["parent_run_id"] == latest_parent]  # one plan's simulations
    elif f.get("latest_per_model", True) and not f.get("run_ids"):
        df = df.sort_values("start").groupby("model", as_index=False).tail(1)
    if df.empty:
        raise LookupError(
            "no runs left after the filters (experiment, models, tags, dates, run ids)"
        )
    return df


def _aliases(client: MlflowClient, run_id: str) -> str:
    out = []
    for v in client.search_model_versions(f"run_id='{run_id}'"):
        full = client.get_model_version(v.name, v.version)
        out += [a for a in full.aliases if a in (CHAMPION, CHALLENGER)]
    return ",".join(sorted(set(out)))


def champion_run(df: pd.DataFrame, task: str, baseline: str | None) -> str:
    """The reference run: the registry's champion, or for policies the configured baseline."""
    if task == "policy":
        name = baseline or "forecast_abc"
        hit = df[df["model"] == name]
        if hit.empty:
            raise LookupError(f"baseline policy {name!r} is not among the compared runs")
        return hit["run_id"].iloc[0]
    hit = df[df["alias"].str.contains(CHAMPION)]
    if hit.empty:
        spec = TASKS[task]
        best = df.sort_values(spec.metric, ascending=not spec.higher_is_better)
        return best["run_id"].iloc[0]  # no champion among the filtered runs: the best one
    return hit.sort_values("start")["run_id"].iloc[-1]


def unit_values(run_id: str, task: str) -> pd.Series:
    """Per-unit metric of a run (mean over backtest windows for forecasts), indexed by unit id."""
    spec = TASKS[task]
    return unit_series(run_id, spec.unit_artifact, spec.unit_key, spec.unit_metric)


def unit_series(run_id: str, artifact: str, key: str, metric: str) -> pd.Series:
    """``metric`` per ``key`` from a run's logged table (averaged where a unit has several rows)."""
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact)
    with open(path) as fh:
        d = json.load(fh)
    df = pd.DataFrame(d["data"], columns=d["columns"])
    if metric == "fill_rate" and "demand" in df.columns:
        df = df[df["demand"] > 0]  # a series without demand has no fill rate to compare
    return df.groupby(df[key].astype(str))[metric].mean()


def leaderboard(
    df: pd.DataFrame, task: str, champion_id: str, comparisons: Mapping[str, dict]
) -> pd.DataFrame:
    spec = TASKS[task]
    ref = df.loc[df["run_id"] == champion_id, spec.metric].iloc[0]
    out = df.copy()
    out["role"] = [
        "champion" if r == champion_id else (a or "")
        for r, a in zip(out["run_id"], out["alias"], strict=True)
    ]
    out[f"delta {spec.metric}"] = out[spec.metric] - ref
    for col in ("ci_low", "ci_high"):
        out[f"boot {col}"] = [comparisons.get(r, {}).get(col) for r in out["run_id"]]
    out["boot verdict"] = [
        "reference" if r == champion_id else comparisons.get(r, {}).get("verdict", "")
        for r in out["run_id"]
    ]
    out = out.sort_values(spec.metric, ascending=not spec.higher_is_better, na_position="last")
    cols = [
        "model",
        "role",
        *spec.columns,
        f"delta {spec.metric}",
        "boot ci_low",
        "boot ci_high",
        "boot verdict",
        "duration_s",
        "data_fingerprint",
        "git_commit",
        "run_id",
    ]
    return out[[c for c in cols if c in out]]


def select(df: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    return df[df["model"].isin(names)] if names else df
