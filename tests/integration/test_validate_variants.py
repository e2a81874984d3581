"""Validation-only configuration choice (benchmarks/validate_variants): every variant is a tracked
MLflow run with its overrides and scores, and the best by mean validation WRMSSE is tagged."""

from __future__ import annotations

import mlflow
import pytest

from benchmarks.validate_variants import EXPERIMENT, parse_variant, validate
from src.forecast.backtest import BacktestSpec
from src.forecast.baselines import Croston
from src.forecast.generators import daily_panel
from src.tracking import configure

pytestmark = pytest.mark.integration


def test_each_variant_is_a_run_and_the_best_is_tagged(tmp_path):
    panel, static = daily_panel(n_series=8, length=120, seed=3)
    data = {"train": panel.drop(columns="true_rate"), "static": static}
    configure(f"sqlite:///{tmp_path}/mlflow.db", EXPERIMENT, tmp_path / "artifacts")
    variants = {"configured": [], "slow": ["alpha=0.02"], "fast": ["alpha=0.5"]}

    def factory_of(overrides):
        alpha = float(overrides[0].split("=")[1]) if overrides else 0.1
        return lambda: Croston(variant="sba", alpha=alpha)

    spec = BacktestSpec(horizon=7, windows=2, step=7)
    table = validate(variants, factory_of, data, spec, {"dataset": "tiny", "model": "croston"})
    assert list(table["val/wrmsse"]) == sorted(table["val/wrmsse"])
    assert set(table["variant"]) == set(variants)
    assert table["val/wrmsse_w1"].notna().all() and table["val/wrmsse_w2"].notna().all()
    runs = mlflow.search_runs(experiment_names=[EXPERIMENT])
    assert len(runs) == 3
    chosen = runs[runs["tags.chosen"] == "true"]
    assert list(chosen["params.variant"]) == [table.loc[0, "variant"]]
    assert set(runs["params.overrides"]) == {"(none)", "alpha=0.02", "alpha=0.5"}
    # different settings, different scores: the runs compare something real
    assert table["val/wrmsse"].nunique() == 3


def test_a_malformed_variant_is_refused():
    assert parse_variant("w180:a.b=1; c.d=2") == ("w180", ["a.b=1", "c.d=2"])
    for bad in ("no-colon", ":a=1", "name:"):
        with pytest.raises(ValueError, match="NAME:OVERRIDE"):
            parse_variant(bad)
