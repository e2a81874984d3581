"""The one task wrapper every entry point goes through (as lightning-hydra-template's
``task_wrapper``): one error policy, one MLflow context, one place for timing.

``main = entry_point("clv", run)`` turns a pipeline's ``run(cfg)`` into its Hydra ``main``:

* **errors people can fix** (:data:`USER_ERRORS`: bad input, a missing feature set, table or
  output, a wrong setting) end the job with the clear message on the console and in the job's
  log, exit code 2; the traceback goes to the log file only. Anything else is a bug and raises.
* **MLflow**: the tracking URI is set once from ``tracking.uri`` before the step runs, and a run
  the step left open when it failed is closed as ``FAILED`` (never left ``RUNNING``).
* **timing**: the start and the end of the step with its wall time.

Hydra sees ``run``'s own module and file (``functools.wraps``), so the config search path, the
job name and the log folder are those of the pipeline, as if it carried ``@hydra.main`` itself.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
import traceback
from collections.abc import Callable

import hydra
from omegaconf import DictConfig

log = logging.getLogger("retail_brain")

#: what a user can act on — bad input (``DataValidationError``), a wrong or missing setting
#: (``ValueError``, the identity ``SaltError``, console ``NoUsers``), a step not run yet
#: (``FeatureSetMissing``, ``OutputMissing``, a canonical table not found: ``FileNotFoundError``),
#: nothing registered or matching (``ChampionMissing``, review's ``LookupError``)
USER_ERRORS = (ValueError, FileNotFoundError, LookupError)
#: LookupErrors that are bugs, not users' doing
BUGS = (KeyError, IndexError)
EXIT_USER_ERROR = 2


def _log_files() -> list[str]:
    return [
        h.baseFilename for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)
    ]


def _close_failed_run() -> None:
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None and mlflow.active_run() is not None:
        mlflow.end_run(status="FAILED")


def execute(run: Callable[[DictConfig], object], cfg: DictConfig, name: str):
    """Run one step under the policy above; returns what ``run`` returns."""
    if "tracking" in cfg and cfg.tracking.get("uri"):
        import mlflow

        mlflow.set_tracking_uri(cfg.tracking.uri)
    log.info("%s: started", name)
    t0 = time.perf_counter()
    try:
        result = run(cfg)
    except USER_ERRORS as err:
        _close_failed_run()
        if isinstance(err, BUGS):
            raise
        files = _log_files()
        for path in files:  # the traceback for whoever debugs it, not on the console
            with open(path, "a") as fh:
                fh.write("".join(traceback.format_exception(err)))
        where = f" (traceback in {files[0]})" if files else ""
        log.error("%s stopped after %.1f s: %s%s", name, time.perf_counter() - t0, err, where)
        sys.exit(EXIT_USER_ERROR)
    except BaseException:
        _close_failed_run()
        raise
    log.info("%s: done in %.1f s", name, time.perf_counter() - t0)
    return result


def entry_point(config_name: str, run: Callable[[DictConfig], object]) -> Callable[[], None]:
    """The Hydra ``main`` of a pipeline whose work is ``run(cfg)``, composed from
    ``conf/<config_name>.yaml``."""

    @functools.wraps(run)
    def task(cfg: DictConfig) -> None:
        execute(run, cfg, config_name)

    return hydra.main(version_base="1.3", config_path="../conf", config_name=config_name)(task)
