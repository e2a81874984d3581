"""The one leaderboard: runs of a task ranked by its primary metric, with the columns its
registry entry names; the same table after training and in review (``pipelines.compare``)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from src.tracking.tasks import TaskSpec

TRAILING = ["duration_s", "data_fingerprint", "git_commit", "run_id"]


def leaderboard(
    runs: pd.DataFrame,
    spec: TaskSpec,
    champion_id: str | None = None,
    comparisons: Mapping[str, dict] | None = None,
) -> pd.DataFrame:
    """One row per run (``run_id``, ``model`` and metric columns), best first.

    With ``champion_id``: a ``role`` column and the delta of the primary metric to that run;
    with ``comparisons`` (run id -> paired bootstrap result): its interval and verdict.
    """
    out = runs.copy()
    cols = ["model"]
    if champion_id is not None:
        aliases = out["alias"] if "alias" in out else pd.Series("", index=out.index)
        out["role"] = [
            "champion" if r == champion_id else (a or "")
            for r, a in zip(out["run_id"], aliases.fillna(""), strict=True)
        ]
        cols.append("role")
    cols += list(spec.leaderboard)
    if champion_id is not None and champion_id in set(out["run_id"]):
        ref = out.loc[out["run_id"] == champion_id, spec.metric].iloc[0]
        out[f"delta {spec.metric}"] = out[spec.metric] - ref
        cols.append(f"delta {spec.metric}")
    if comparisons is not None:
        for col in ("ci_low", "ci_high"):
            out[f"boot {col}"] = [comparisons.get(r, {}).get(col) for r in out["run_id"]]
        out["boot verdict"] = [
            "reference" if r == champion_id else comparisons.get(r, {}).get("verdict", "")
            for r in out["run_id"]
        ]
        cols += ["boot ci_low", "boot ci_high", "boot verdict"]
    cols += TRAILING
    out = out.sort_values(spec.metric, ascending=not spec.higher_is_better, na_position="last")
    return out[[c for c in cols if c in out]].reset_index(drop=True)


def format_leaderboard(board: pd.DataFrame, title: str, top: int | None = None) -> str:
    shown = board.drop(columns=[c for c in ("run_id",) if c in board])
    if top is not None:
        shown = shown.head(top)
    table = shown.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="")
    return f"\n=== {title} ===\n{table}"


def training_board(results: list[dict], spec: TaskSpec) -> pd.DataFrame:
    """The leaderboard of the runs one training session produced."""
    return leaderboard(pd.DataFrame(results), spec)
