"""Backtest, track, register and promote demand forecasters.

python -m pipelines.train_forecast                                    # SKU x day, defaults
python -m pipelines.train_forecast granularity=category_location_monthly
python -m pipelines.train_forecast 'forecast.train=[lightgbm,tft]' forecast.accelerator=gpu
"""

from pipelines.entry import entry_point
from src.forecast.pipeline import run_train_forecast

run, main = entry_point("train_forecast", run_train_forecast, backend=True)

if __name__ == "__main__":
    main()
