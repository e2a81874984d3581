"""Thin Hydra entry points: each composes its config and calls one function of ``src``.

An offline product phones nobody: MLflow's usage telemetry (attempted at every run) and
BentoML's usage tracking are off unless the environment explicitly turns them on.
"""

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
