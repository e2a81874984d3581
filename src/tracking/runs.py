"""MLflow plumbing: the store, what a run says about itself, and what it logged per unit.

* :func:`configure` — tracking URI (default: SQLite under ``mlruns/``) and one experiment per task
  with an explicit artifact folder (MLflow 3 refuses a plain folder as tracking URI);
* :func:`log_context` — the resolved config (as params and as ``config.json``), git commit, data
  fingerprint and free-form tags, so a run says what produced it;
* :func:`unit_series` — a run's per-unit table (series, customers) as one value per unit, what
  promotion and review bootstrap over.

Nothing here runs at import time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import mlflow
import pandas as pd
from filelock import FileLock

from src.outputs.catalogue import git_commit

log = logging.getLogger(__name__)


def configure(tracking_uri: str, experiment: str, artifact_root: str | Path) -> str:
    """Point MLflow at the store and make sure ``experiment`` exists; returns its id."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # a PythonModel object is pickled by design here (the class is importable from src)
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    lock = contextlib.nullcontext()
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri.removeprefix("sqlite:///"))
        db.parent.mkdir(parents=True, exist_ok=True)
        # two first runs at once both create the tables ("table experiments already exists"):
        # one process at a time creates or migrates the SQLite store and its experiments. A
        # shared team store should be an MLflow server (tracking.uri=http://...), not a file.
        lock = FileLock(str(db) + ".lock", timeout=600)
    with lock:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        found = mlflow.get_experiment_by_name(experiment)
        if found is None:
            root = Path(artifact_root).resolve() / experiment
            root.mkdir(parents=True, exist_ok=True)
            try:
                exp_id = mlflow.create_experiment(experiment, artifact_location=root.as_uri())
            except mlflow.exceptions.MlflowException:  # created meanwhile by another client
                found = mlflow.get_experiment_by_name(experiment)
                if found is None:
                    raise
                exp_id = found.experiment_id
        else:
            exp_id = found.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return exp_id


def pinned_requirements(packages) -> list[str]:
    """``name==version`` of installed packages, for ``log_model(pip_requirements=...)``.

    MLflow's own inference scans the whole environment (slow) and drops torch's ``+cpu``.
    """
    out = []
    for name in packages:
        try:
            out.append(f"{name}=={metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            continue
    return out


def flatten(d: Mapping, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = (
                v
                if isinstance(v, int | float | bool | str) or v is None
                else json.dumps(v, default=str)
            )
    return out


SECRET_KEY = re.compile(r"(salt|secret|password|passwd|token|api_keys?|credentials?)$", re.I)
REDACTED = "<redacted>"


def redact_secrets(config):
    """``config`` with the value of every key that names a secret replaced (defence in depth:
    secrets come from the environment and are not in configs — this keeps one that slipped in
    out of MLflow params and ``config.json``)."""
    if isinstance(config, Mapping):
        return {
            k: REDACTED if SECRET_KEY.search(str(k)) and v not in (None, "") else redact_secrets(v)
            for k, v in config.items()
        }
    if isinstance(config, list | tuple):
        return [redact_secrets(v) for v in config]
    return config


def log_context(
    config: Mapping, data_fingerprint: str | None, tags: Mapping[str, str] | None = None
) -> None:
    config = redact_secrets(config)
    params = {k: str(v)[:500] for k, v in flatten(config).items()}
    for i in range(0, len(params), 100):  # MLflow takes at most 100 params per call
        mlflow.log_params(dict(list(params.items())[i : i + 100]))
    mlflow.log_text(json.dumps(config, indent=2, default=str), "config.json")
    mlflow.set_tags(
        {
            "git_commit": git_commit(),
            "data_fingerprint": data_fingerprint or "unknown",
            **(tags or {}),
        }
    )


def unit_series(run_id: str, evidence) -> pd.Series:
    """``evidence.metric`` per ``evidence.key`` from a run's logged table ``evidence.artifact``
    (averaged where a unit has several rows, e.g. backtest windows). Units whose
    ``evidence.require_positive`` column is not positive have nothing to compare and are left out.
    """
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=evidence.artifact)
    with open(path) as fh:
        d = json.load(fh)
    df = pd.DataFrame(d["data"], columns=d["columns"])
    if evidence.require_positive and evidence.require_positive in df.columns:
        df = df[df[evidence.require_positive] > 0]
    return df.groupby(df[evidence.key].astype(str))[evidence.metric].mean()
