"""Package the registry's champions as BentoML services, offline.

python -m pipelines.build_services                         # recsys@champion + forecast_sku_D@champion
(the registered models are the tasks' own: conf/tasks/recsys.yaml, conf/tasks/forecast.yaml)
python -m pipelines.build_services granularity=sku_location_daily serving.bentoml_home=/srv/bento
"""

from pipelines.entry import entry_point
from src.serve.package import run_build_services

run, main = entry_point("build_services", run_build_services)

if __name__ == "__main__":
    main()
