"""Did each campaign pay? Effects with intervals, ROI, power, uplift models (conf/measure).

python -m pipelines.measure_campaigns                                  # after ingest
python -m pipelines.measure_campaigns measure.attribution_days=14 measure.margin_rate=0.4
python -m pipelines.measure_campaigns paths.output=data/processed/synthetic   # another dataset
"""

from pipelines.entry import entry_point
from src.marketing.pipeline import run_measure

run, main = entry_point("measure_campaigns", run_measure)

if __name__ == "__main__":
    main()
