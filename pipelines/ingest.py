"""Raw sources -> canonical tables, rejects report, ingest report.

python -m pipelines.ingest                                   # embedded UCI data
python -m pipelines.ingest data=generic data.path=FILE data.columns.order_id=COL ... paths.output=DIR
"""

from pipelines.entry import entry_point
from src.features.ingest import run_ingest

run, main = entry_point("ingest", run_ingest)

if __name__ == "__main__":
    main()
