"""KPIs, alerts and their delivery from the latest data, plan, forecasts and recommendations.

python -m pipelines.monitor                                  # conf/monitor/default.yaml
RETAIL_BRAIN_WEBHOOK_URL=http://127.0.0.1:9000/hook python -m pipelines.monitor
python -m pipelines.monitor monitor.cooldown_hours=0 'monitor.rules=[]'
"""

from pipelines.entry import entry_point
from src.monitor.pipeline import run_monitor

run, main = entry_point("monitor", run_monitor)

if __name__ == "__main__":
    main()
