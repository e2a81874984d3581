"""Runs of one task from MLflow, filtered, with the champion marked and per-unit results.

What a task is — its experiment, primary metric and direction, leaderboard columns, per-unit
evidence, whether its compared runs are nested — comes from its :class:`TaskSpec` (the task
registry, ``conf/tasks/*.yaml``); nothing here names a task.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from mlflow import MlflowClient

from src.tracking.promotion import CHALLENGER, CHAMPION
from src.tracking.runs import unit_series
from src.tracking.tasks import TaskSpec


def load_runs(client: MlflowClient, spec: TaskSpec, filters: Mapping) -> pd.DataFrame:
    """One row per run: name, model, times, commit, fingerprint, metrics, registry aliases."""
    name = filters.get("experiment") or spec.experiment
    exp = client.get_experiment_by_name(name)
    if exp is None:
        raise LookupError(
            f"no MLflow experiment {name!r} in {client.tracking_uri}; run `make run` first"
        )
    clauses = ["attributes.status = 'FINISHED'"]
    for k, v in (filters.get("tags") or {}).items():
        clauses.append(f"tags.`{k}` = '{v}'")
    runs = client.search_runs([exp.experiment_id], " and ".join(clauses), max_results=5000)
    rows = []
    for r in runs:
        tags = r.data.tags
        if spec.nested_runs != ("mlflow.parentRunId" in tags):
            # nested tasks compare the children (a plan's policies); the others the top-level
            # runs (their nested runs are tuning trials)
            continue
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
                **{m: r.data.metrics.get(m) for m in set(spec.leaderboard) | {spec.metric}},
            }
        )
    df = pd.DataFrame(rows)
    if df.empty:
        raise LookupError(f"no finished runs in experiment {exp.name!r} match the filters")
    df = _filter(df, spec, filters)
    df["alias"] = [_aliases(client, rid) for rid in df["run_id"]]
    return df.reset_index(drop=True)


def _filter(df: pd.DataFrame, spec: TaskSpec, f: Mapping) -> pd.DataFrame:
    if f.get("run_ids"):
        df = df[df["run_id"].isin(list(f["run_ids"]))]
    if f.get("models"):
        df = df[df["model"].isin(list(f["models"]))]
    if f.get("since"):
        df = df[df["start"] >= pd.Timestamp(f["since"], tz="UTC")]
    if f.get("until"):
        df = df[df["start"] <= pd.Timestamp(f["until"], tz="UTC") + pd.Timedelta(days=1)]
    if spec.nested_runs and not f.get("run_ids") and len(df):
        latest_parent = df.sort_values("start")["parent_run_id"].iloc[-1]
        df = df[df["parent_run_id"] == latest_parent]  # one parent's children (a plan's policies)
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


def champion_run(df: pd.DataFrame, spec: TaskSpec, baseline: str | None) -> str:
    """The reference run: the named baseline (the task's own for tasks without a registry), else
    the registry's champion, else the best run by the primary metric."""
    name = baseline or (None if spec.registered_model else spec.baseline)
    if name:
        hit = df[df["model"] == name]
        if hit.empty:
            raise LookupError(f"baseline {name!r} is not among the compared runs")
        return hit.sort_values("start")["run_id"].iloc[-1]
    hit = df[df["alias"].str.contains(CHAMPION)]
    if hit.empty:
        best = df.sort_values(spec.metric, ascending=not spec.higher_is_better)
        return best["run_id"].iloc[0]  # no champion among the filtered runs: the best one
    return hit.sort_values("start")["run_id"].iloc[-1]


def unit_values(run_id: str, spec: TaskSpec) -> pd.Series:
    """Per-unit evidence of a run (mean over backtest windows for forecasts), by unit id."""
    return unit_series(run_id, spec.evidence)
