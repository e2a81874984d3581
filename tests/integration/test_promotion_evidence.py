"""Promotion that needs a significant gain and clean guards, on a real SQLite MLflow store."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from src.tracking import CHAMPION, PromotionRule, configure, promote
from src.tracking.tasks import Evidence

pytestmark = pytest.mark.integration
EVIDENCE = Evidence("per_series_metrics.json", "unique_id", "rmsse", higher_is_better=False)


class Const(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def log_version(name: str, errors: np.ndarray, extra: dict, fingerprint: str = "data-1") -> str:
    with mlflow.start_run() as run:
        mlflow.set_tag("data_fingerprint", fingerprint)
        mlflow.log_metrics({"val/wrmsse": float(errors.mean()), **extra})
        ids = [f"s{i}" for i in range(len(errors))]
        mlflow.log_table(
            pd.DataFrame({"unique_id": ids, "rmsse": errors}),
            artifact_file="per_series_metrics.json",
        )
        mlflow.pyfunc.log_model(
            name="model",
            python_model=Const(),
            registered_model_name=name,
            pip_requirements=["pandas"],
        )
    return run.info.run_id


@pytest.fixture
def store(tmp_path):
    configure(f"sqlite:///{tmp_path}/mlflow.db", "forecast", tmp_path / "artifacts")
    yield MlflowClient()
    mlflow.set_tracking_uri("")


def base(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return rng.gamma(2.0, 0.5, n), rng


def rule(**kw):
    return PromotionRule(
        metric="val/wrmsse",
        higher_is_better=False,
        significance_level=0.05,
        evidence=EVIDENCE,
        n_boot=1000,
        **kw,
    )


def test_a_noise_level_gain_is_not_promoted_but_a_real_one_is(store):
    d, rng = base()
    champion = d + rng.normal(0, 0.2, len(d))
    log_version("m", champion, {})
    assert promote("m", rule())["champion_version"] == 1
    noise = d + rng.normal(0, 0.2, len(d))  # same model quality, slightly lower mean by chance
    noise = noise - (noise.mean() - champion.mean()) - 0.002
    log_version("m", noise, {})
    kept = promote("m", rule())
    assert kept["champion_version"] == 1 and not kept["promoted"]
    assert kept["evidence"]["bootstrap"]["verdict"] == "no significant difference"
    real = champion - 0.08 + rng.normal(0, 0.05, len(d))
    run_id = log_version("m", real, {})
    won = promote("m", rule())
    assert won["promoted"] and won["champion_version"] == 3
    assert won["evidence"]["bootstrap"]["verdict"] == "challenger better"
    tags = store.get_run(run_id).data.tags
    assert tags["promotion.decision"] == "promoted" and "bootstrap" in tags["promotion.reason"]
    version_tag = json.loads(store.get_model_version("m", "3").tags["promotion"])
    assert version_tag["evidence"]["bootstrap"]["significant"]


def test_a_guard_blocks_a_significant_gain(store):
    d, rng = base(seed=1)
    champion = d + rng.normal(0, 0.2, len(d))
    log_version("g", champion, {"val/coverage_95": 0.95})
    promote("g", rule(guards={"val/coverage_95": {"target": 0.95, "tolerance": 0.03}}))
    better_but_overconfident = champion - 0.1
    log_version("g", better_but_overconfident, {"val/coverage_95": 0.80})
    out = promote("g", rule(guards={"val/coverage_95": {"target": 0.95, "tolerance": 0.03}}))
    assert not out["promoted"] and out["champion_version"] == 1
    assert out["evidence"]["guards"]["val/coverage_95"]["passed"] is False
    assert str(store.get_model_version_by_alias("g", CHAMPION).version) == "1"


def test_new_data_promotes_the_best_on_it(store):
    d, rng = base(seed=2)
    log_version("f", d, {})
    promote("f", rule())
    log_version("f", d + 0.001, {}, fingerprint="data-2")  # not better, but trained on new data
    out = promote("f", rule())
    assert out["promoted"] and "data changed" in out["reason"]
