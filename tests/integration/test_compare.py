"""pipelines.compare on runs trained in the test: leaderboards, bootstrap, reports with plots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from pipelines import compare
from tests.helpers import REPO, train_tiny_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    gran = [
        "granularity.horizon=14",
        "granularity.backtest_windows=2",
        "granularity.backtest_step=14",
        "granularity.top_n=30",
    ]
    paths = train_tiny_stack(
        tmp,
        "[seasonal_naive,croston_sba,tsb]",
        "[popularity,buy_again,ease]",
        gran,
        ["policy.simulation.window_days=28"],
    )
    return tmp, paths


def run_compare(store, task, *extra):
    tmp, paths = store
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(
            "compare",
            [*paths, f"task={task}", f"compare.output={tmp}/reports", "compare.n_boot=500", *extra],
        )
        return compare.run(cfg)


def images(path: str) -> list[str]:
    return re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]{200,})", Path(path).read_text())


def test_forecast_leaderboard_and_report(store, capsys):
    out = run_compare(store, "forecast")
    board = out["leaderboard"]
    assert set(board["model"]) == {"seasonal_naive", "croston_sba", "tsb"}
    assert (board["role"] == "champion").sum() == 1
    champ = board[board["role"] == "champion"].iloc[0]
    assert champ["delta val/wrmsse"] == 0
    assert len(out["comparisons"]) == 2 and all("verdict" in c for c in out["comparisons"].values())
    assert len(images(out["report"])) >= 4  # metric, distributions, bootstrap, forecast vs actual
    printed = capsys.readouterr().out
    assert (
        "forecast leaderboard" in printed
        and "git_commit" in printed
        and "data_fingerprint" in printed
    )


def test_forecast_vs_actual_for_chosen_series(store):
    import pandas as pd

    tmp, _ = store
    uid = str(
        pd.read_parquet(f"{tmp}/tables/forecasts/forecast_sku_D.parquet")["unique_id"].iloc[0]
    )
    out = run_compare(store, "forecast", f"compare.series=[{uid}]")
    html = Path(out["report"]).read_text()
    assert f"Forecast vs actual (last backtest window) for: {uid}" in html
    assert len(images(out["report"])) >= 5


def test_recsys_segments_and_filters(store):
    out = run_compare(store, "recsys", "compare.models=[buy_again,ease]")
    assert set(out["leaderboard"]["model"]) == {"buy_again", "ease"}
    html = Path(out["report"]).read_text()
    assert (
        "recall by lifecycle stage, frequency and repeat vs explore" in html
        and len(images(out["report"])) >= 3
    )


def test_policy_tradeoff(store):
    out = run_compare(store, "policy", "compare.baseline='rule_of_thumb[days=45]'")
    assert "rule_of_thumb[days=45]" in set(out["leaderboard"]["model"])
    assert "fill rate vs days of cover" in Path(out["report"]).read_text()
    assert out["comparisons"]  # per-series KPIs were logged, so the bootstrap ran


def test_filters_that_match_nothing_say_so(store):
    with pytest.raises(LookupError, match="no runs left"):
        run_compare(store, "forecast", "compare.since=2999-01-01")


@pytest.mark.slow  # starts a Jupyter kernel and executes the notebook
def test_review_notebook_runs_top_to_bottom(store, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    tmp, _ = store
    monkeypatch.setenv("RETAIL_BRAIN_TRACKING_URI", f"sqlite:///{tmp}/mlruns/mlflow.db")
    nb = nbformat.read(REPO / "notebooks" / "1.0-review-runs.ipynb", as_version=4)
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(REPO / "notebooks")}},
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pictures) >= 4  # forest, distributions, lifecycle recall, trade-off
    text = "".join(
        str(o.get("data", {}).get("text/plain", "")) + o.get("text", "") for o in outputs
    )
    assert "verdict" in text and "seasonal_naive" in text
