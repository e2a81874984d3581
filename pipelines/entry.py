"""The one task wrapper every entry point goes through (as lightning-hydra-template's
``task_wrapper``): one error policy, one MLflow context, one place for timing.

A pipeline is a composition of one call into ``src``::

    run, main = entry_point("clv", run_clv)            # run_clv(config: dict) -> result

* ``run(cfg)`` resolves the Hydra config into a plain dict and calls the work with it (inside the
  configured execution backend when ``backend=True``) — what ``pipelines.run`` and tests call;
* ``main()`` is the Hydra entry (``python -m pipelines.clv key=value …``, multiruns included),
  composed from ``conf/<config_name>.yaml``, and runs ``run`` under the policy:

  - **errors people can fix** (:data:`USER_ERRORS`: bad input, a missing feature set, table or
    output, a wrong setting, nothing registered) end the job with the clear message on the
    console and in the job's log, exit code 2; the traceback goes to the log file only.
    Anything else is a bug and raises.
  - **MLflow**: the tracking URI is set once from ``tracking.uri`` before the step runs, and a
    run the step left open when it failed is closed as ``FAILED`` (never left ``RUNNING``).
  - **timing**: the start and the end of the step with its wall time.

Hydra finds the config folder, names the job and its log folder (``logs/<step>/<time>/``) after
the pipeline module that calls :func:`entry_point`, as if it carried ``@hydra.main`` itself.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Callable, Mapping

import hydra
from omegaconf import DictConfig, OmegaConf

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


def resolved(cfg: DictConfig | Mapping) -> dict:
    """The config as a plain dict with every interpolation resolved."""
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)


def entry_point(
    config_name: str, work: Callable[[dict], object], backend: bool = False
) -> tuple[Callable[[DictConfig], object], Callable[[], None]]:
    """``(run, main)`` of the pipeline that calls it: ``work(config)`` on the resolved config
    (in the configured backend when ``backend``), and its Hydra entry."""
    from src.compute import session

    def run(cfg: DictConfig | Mapping):
        config = resolved(cfg)
        if not backend:
            return work(config)
        with session(config.get("backend")):
            return work(config)

    def task(cfg: DictConfig) -> None:
        execute(run, cfg, config_name)

    # Hydra looks for conf/ and names the job after the module that defines the task function:
    # the pipeline that called entry_point, not this module
    caller = sys._getframe(1).f_globals
    task.__module__ = caller["__name__"]
    task.__code__ = task.__code__.replace(co_filename=caller["__file__"])
    run.__module__, run.__doc__ = caller["__name__"], work.__doc__
    main = hydra.main(version_base="1.3", config_path="../conf", config_name=config_name)(task)
    return run, main
