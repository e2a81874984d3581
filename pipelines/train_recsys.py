"""Train, evaluate (temporal holdout), track, register and promote recommenders; write recs.

python -m pipelines.train_recsys
python -m pipelines.train_recsys 'recsys.train=[buy_again,hybrid]' recsys.cutoff=2011-11-12
python -m pipelines.train_recsys paths.tables=out/brand      # any ingested dataset
"""

from pipelines.entry import entry_point
from src.recsys.pipeline import run_train_recsys

run, main = entry_point("train_recsys", run_train_recsys, backend=True)

if __name__ == "__main__":
    main()
