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

import mlflow
from omegaconf import DictConfig, OmegaConf

from pipelines.entry import entry_point
from src.review.compare import compare_runs
from src.tracking.tasks import select

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a clean table
    config = OmegaConf.to_container(cfg, resolve=True)
    spec = select(config["tasks"], cfg.task)
    mlflow.set_tracking_uri(cfg.tracking.uri)
    return compare_runs(mlflow.MlflowClient(), spec, config["compare"])


main = entry_point("compare", run)


if __name__ == "__main__":
    main()
