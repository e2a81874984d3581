"""Raw sources -> canonical tables, rejects report, ingest report.

python -m pipelines.ingest                                   # embedded UCI data
python -m pipelines.ingest data=generic data.path=FILE data.columns.order_id=COL ... paths.output=DIR
"""

from __future__ import annotations

import logging

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pipelines.entry import entry_point
from src.features.identity import identity_salt
from src.features.ingest import IngestOptions, write_ingest
from src.features.report import format_ingest_summary

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    options = IngestOptions(
        **OmegaConf.to_container(cfg.ingest, resolve=True), identity_salt=identity_salt()
    )
    result = instantiate(cfg.data, _partial_=True)(options=options)
    output = write_ingest(result, cfg.paths.output)
    print(format_ingest_summary(result.report, output), flush=True)
    return result.report


main = entry_point("ingest", run)


if __name__ == "__main__":
    main()
