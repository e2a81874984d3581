"""Canonical tables -> the feature store: demand panels, interactions, customers, catalog.

python -m pipelines.build_features                      # reads data/processed
python -m pipelines.build_features paths.tables=DIR 'features.panels=[{level: sku, freq: W}]'
"""

from pipelines.entry import entry_point
from src.features.build import run_build_features

run, main = entry_point("build_features", run_build_features, backend=True)

if __name__ == "__main__":
    main()
