"""Apply the configured promotion rule to the registered model of a task (no retraining).

python -m pipelines.promote task=forecast [granularity=...] [forecast.promotion.min_improvement=0.02]
python -m pipelines.promote task=recsys
"""

from pipelines.entry import entry_point
from src.tracking.promotion import run_promote

run, main = entry_point("promote", run_promote)

if __name__ == "__main__":
    main()
