"""Reorder points, order and transfer suggestions from the champion forecast, with evidence.

python -m pipelines.plan_inventory                                   # defaults (conf/policy)
python -m pipelines.plan_inventory policy.kind=sS policy.service_level.mode=0.95
python -m pipelines.plan_inventory granularity=sku_location_daily policy.supply_terms=terms.csv
"""

from pipelines.entry import entry_point
from src.policy.pipeline import run_plan

run, main = entry_point("plan_inventory", run_plan, backend=True)

if __name__ == "__main__":
    main()
