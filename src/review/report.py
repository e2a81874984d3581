"""Figures and the self-contained HTML comparison report."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import pandas as pd  # noqa: E402

from src import outputs
from src.tracking.tasks import TaskSpec  # noqa: E402


def png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def metric_by_model(df: pd.DataFrame, spec: TaskSpec, champion_id: str):
    d = df.sort_values(spec.metric, ascending=not spec.higher_is_better)
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(d) + 1.5))
    colors = ["tab:orange" if r == champion_id else "tab:blue" for r in d["run_id"]]
    ax.barh(d["model"], d[spec.metric], color=colors)
    ax.invert_yaxis()
    ax.set_xlabel(
        f"{spec.metric} ({'higher' if spec.higher_is_better else 'lower'} is better; orange = champion)"
    )
    ax.grid(axis="x", alpha=0.3)
    return fig


def unit_distributions(units: Mapping[str, pd.Series], spec: TaskSpec):
    names = list(units)
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(names) + 1.5))
    ax.boxplot([units[n].dropna().to_numpy() for n in names], vert=False, showfliers=False)
    ax.set_yticks(range(1, len(names) + 1), names)
    ax.set_xlabel(
        f"per-{spec.evidence.unit} {spec.evidence.metric} (box: quartiles, whiskers: 1.5 IQR)"
    )
    ax.grid(axis="x", alpha=0.3)
    return fig


def bootstrap_forest(
    comparisons: Mapping[str, dict], names: Mapping[str, str], spec: TaskSpec, level: float
):
    items = [(names[r], c) for r, c in comparisons.items()]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(items) + 1.5))
    for i, (_name, c) in enumerate(items):
        color = (
            "tab:green"
            if c["verdict"] == "challenger better"
            else ("tab:red" if c["verdict"] == "challenger worse" else "grey")
        )
        ax.errorbar(
            c["delta"],
            i,
            xerr=[[c["delta"] - c["ci_low"]], [c["ci_high"] - c["delta"]]],
            fmt="o",
            color=color,
            capsize=3,
        )
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(items)), [n for n, _ in items])
    ax.set_xlabel(
        f"challenger - champion, mean per-{spec.evidence.unit} {spec.evidence.metric}, "
        f"{1 - level:.0%} CI ({'right' if spec.evidence.higher_is_better else 'left'} is better)"
    )
    ax.grid(axis="x", alpha=0.3)
    return fig


BREAKDOWNS = {"segment": "lifecycle stage", "frequency": "purchase days before the cut-off",
              "purchase": "repeat vs explore"}  # fmt: skip


def segment_recall(df: pd.DataFrame, client: mlflow.MlflowClient):
    """recall@20 (all) of each model by lifecycle stage, customer frequency bucket and repeat vs
    explore items — where each model wins (``val/all/<dimension>/<member>/recall_at_20``)."""
    rows = []
    for r in df.itertuples():
        m = client.get_run(r.run_id).data.metrics
        for k, v in m.items():
            parts = k.split("/")
            if (
                len(parts) == 5
                and parts[:2] == ["val", "all"]
                and parts[2] in BREAKDOWNS
                and parts[4].startswith("recall_at_")
            ):
                rows.append({"model": r.model, "dimension": parts[2], "member": parts[3],
                             "recall": v})  # fmt: skip
    if not rows:
        return None
    t = pd.DataFrame(rows)
    dims = [d for d in BREAKDOWNS if d in set(t["dimension"])]
    fig, axes = plt.subplots(1, len(dims), figsize=(5 * len(dims), 4), squeeze=False)
    for ax, dim in zip(axes[0], dims, strict=True):
        p = t[t["dimension"] == dim].pivot_table(index="member", columns="model", values="recall")
        p.plot.bar(ax=ax, rot=0, legend=ax is axes[0][0])
        ax.set_ylabel("recall@20 (all)")
        ax.set_title(f"by {BREAKDOWNS[dim]}")
        ax.set_xlabel("")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def policy_tradeoff(df: pd.DataFrame):
    from src.policy.plots import tradeoff

    t = df.rename(
        columns={
            "model": "policy",
            "sim/fill_rate": "fill_rate",
            "sim/days_of_cover": "days_of_cover",
        }
    )
    return tradeoff(t, "fill rate vs days of cover (policies of one plan run)")


def artifact_png(client: mlflow.MlflowClient, run_id: str, path: str) -> str | None:
    try:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path)
    except Exception:  # noqa: BLE001 - a run without that plot simply shows none
        return None
    with open(local, "rb") as fh:
        return base64.b64encode(fh.read()).decode()


def html_page(task: str, board: pd.DataFrame, figures: Mapping[str, str], notes: list[str]) -> str:
    imgs = "".join(
        f"<h2>{html.escape(title)}</h2><img src='data:image/png;base64,{data}' style='max-width:100%'>"
        for title, data in figures.items()
        if data
    )
    table = board.to_html(
        index=False, float_format=lambda v: f"{v:.4f}", border=0, classes="t", na_rep=""
    )
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>retail-brain: {task} runs</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1300px}}
table.t{{border-collapse:collapse;font-size:12px}} .t td,.t th{{padding:3px 7px;border-bottom:1px solid #eee}}
.t th{{background:#f4f4f4;text-align:left}}</style></head><body>
<h1>{html.escape(task)}: is the challenger really better?</h1><ul>{items}</ul>
<h2>Leaderboard</h2>{table}{imgs}</body></html>"""


def chosen_series(client: mlflow.MlflowClient, run_id: str, series: list[str], title: str):
    """Forecast vs actual for ``series`` from a run's logged last backtest window (None if the
    run predates those artifacts or none of the series is in it)."""
    from src.forecast.plots import forecast_vs_actual

    try:
        fc = pd.read_parquet(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=outputs.artifact_path("backtest_window")
            )
        )
        hist = pd.read_parquet(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=outputs.artifact_path("backtest_actuals")
            )
        )
    except Exception:  # noqa: BLE001 - older runs: the caller falls back to the logged plot
        return None
    wanted = [s for s in series if s in set(fc["unique_id"].astype(str))]
    if not wanted:
        return None
    fc["unique_id"] = fc["unique_id"].astype(str)
    hist["unique_id"] = hist["unique_id"].astype(str)
    return forecast_vs_actual(hist, fc, wanted, title=title)
