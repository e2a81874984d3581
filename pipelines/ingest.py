"""Raw sources -> canonical tables, rejects report, ingest report.

python -m pipelines.ingest                                   # embedded UCI data
python -m pipelines.ingest data=generic data.path=FILE data.columns.order_id=COL ... paths.output=DIR
"""

from __future__ import annotations

import logging
import sys

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from src.features.identity import SaltError, identity_salt
from src.features.ingest import IngestOptions, write_ingest
from src.features.report import format_ingest_summary
from src.features.validation import DataValidationError

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    options = IngestOptions(
        **OmegaConf.to_container(cfg.ingest, resolve=True), identity_salt=identity_salt()
    )
    result = instantiate(cfg.data, _partial_=True)(options=options)
    output = write_ingest(result, cfg.paths.output)
    print(format_ingest_summary(result.report, output), flush=True)
    return result.report


@hydra.main(version_base="1.3", config_path="../conf", config_name="ingest")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except DataValidationError as err:
        log.error("ingest stopped, nothing was written:\n%s", err)
        sys.exit(2)
    except SaltError as err:
        log.error("ingest stopped: %s", err)
        sys.exit(2)


if __name__ == "__main__":
    main()
