"""Execution backends: ``local`` runs items one after another in this process; ``dask`` runs them
on a dask.distributed cluster — a ``LocalCluster`` sized from config, or any running scheduler
given by ``backend.address`` (Kubernetes, YARN, Coiled … all expose one).

Dask is the engine: scheduling, data transfer, retries of failed tasks (``retries``) and the
re-run of tasks whose worker died are Dask's; this module only chooses the engine, labels the
work and shows progress. Work functions must be importable top-level functions (they are
pickled by reference to the workers) taking one item plus keyword arguments shared by all
items; results come back in the order of the items, so both backends give the same output.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

log = logging.getLogger(__name__)


class PartitionFailed(RuntimeError):
    """One item of a mapped step failed; the message names the item (a partition's series)."""


def describe_ids(what: str, ids: Sequence, unit: str = "series") -> str:
    """``group 3 (612 series: 20685, 21034, … (+607))`` — how a failed item names its data."""
    head = ", ".join(map(str, ids[:5]))
    more = f" … (+{len(ids) - 5})" if len(ids) > 5 else ""
    return f"{what} ({len(ids)} {unit}: {head}{more})"


def _describe(item: Any) -> str:
    describe = getattr(item, "describe", None)
    return describe() if callable(describe) else repr(item)[:200]


def _run(item: Any, fn: Callable, label: str, shared: Mapping[str, Any]) -> Any:
    """Runs on the worker: the work function, with failures naming the item they held."""
    try:
        return fn(item, **shared)
    except Exception as err:
        raise PartitionFailed(
            f"{label} failed on {_describe(item)}: {type(err).__name__}: {err}"
        ) from err


def _identity(value: Any) -> Any:
    return value


class Backend(ABC):
    name = "backend"
    workers = 1

    def __init__(self, progress: bool = True):
        self.progress = progress

    @abstractmethod
    def map(self, fn: Callable, items: Sequence, *, label: str = "work", **shared) -> list:
        """``[fn(item, **shared) for item in items]``, wherever the backend runs them."""

    def close(self) -> None:  # noqa: B027 - nothing to release unless a backend started something
        """Release what the backend started."""

    def _bar(self, total: int, label: str):
        return tqdm(
            total=total,
            desc=label,
            unit="part",
            # off when asked or trivial; None: tqdm shows it on a terminal only (logs stay clean)
            disable=True if (not self.progress or total < 2) else None,
            mininterval=2.0,
            leave=False,
        )


class LocalBackend(Backend):
    """Today's behaviour: every item in this process, in order."""

    name = "local"

    def map(self, fn: Callable, items: Sequence, *, label: str = "work", **shared) -> list:
        out = []
        with self._bar(len(items), label) as bar:
            for item in items:
                out.append(_run(item, fn, label, shared))
                bar.update()
        return out


class DaskBackend(Backend):
    """dask.distributed: a ``LocalCluster`` (``n_workers`` processes of ``threads_per_worker``
    threads, ``memory_limit`` each) when ``address`` is empty, else the scheduler at ``address``.
    ``retries``: how often Dask re-runs a task that raised (a task on a worker that died is
    re-run by Dask anyway)."""

    name = "dask"

    def __init__(
        self,
        address: str | None = None,
        n_workers: int = 2,
        threads_per_worker: int = 1,
        memory_limit: str | int = "6GB",
        retries: int = 2,
        dashboard_address: str | None = ":8787",
        progress: bool = True,
        **cluster_kwargs,
    ):
        import dask
        from dask.distributed import Client, LocalCluster

        super().__init__(progress)
        # partitions of series are data, and they belong in the graph (see map)
        dask.config.set({"distributed.admin.large-graph-warning-threshold": "2GB"})
        self.retries = int(retries)
        self.cluster = None
        if address:
            self.client = Client(address)
            where = f"scheduler {address}"
        else:
            self.cluster = LocalCluster(
                n_workers=int(n_workers),
                threads_per_worker=int(threads_per_worker),
                memory_limit=memory_limit,
                processes=True,
                dashboard_address=dashboard_address,
                silence_logs=logging.WARNING,
                **cluster_kwargs,
            )
            self.client = Client(self.cluster)
            where = (
                f"LocalCluster of {n_workers} workers x {threads_per_worker} thread(s), "
                f"{memory_limit} each"
            )
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        link = self.client.dashboard_link if dashboard_address is not None or address else None
        message = f"dask backend: {where}" + (f"; dashboard {link}" if link else "")
        log.info(message)
        print(message, flush=True)

    def map(self, fn: Callable, items: Sequence, *, label: str = "work", **shared) -> list:
        from dask.distributed import as_completed

        if not items:
            return []
        # shared arguments (a fitted model, a lookup table) go to the cluster once, as the result
        # of a task rather than scattered data: if every worker holding it dies, Dask recomputes
        # it from the graph instead of failing the step
        shared_f = {
            k: self.client.submit(_identity, v, key=f"{label}-{k}-{id(items)}", pure=False)
            for k, v in shared.items()
        }
        if shared_f:  # on every worker: else the scheduler runs every task where the copy is
            self.client.replicate(list(shared_f.values()))
        # items travel inside the task graph (not scattered to one worker), so the scheduler can
        # re-run a task elsewhere when its worker dies; shared arguments are replicated to all
        futures = self.client.map(
            _run,
            list(items),
            fn=fn,
            label=label,
            shared=shared_f,
            key=[f"{label}-{i}-{id(items)}" for i in range(len(items))],
            retries=self.retries,
            pure=False,
        )
        self.submitted(futures)
        try:
            with self._bar(len(futures), label) as bar:
                for _ in as_completed(futures):
                    bar.update()
            return self.client.gather(futures)
        finally:
            for f in (*futures, *shared_f.values()):
                f.release()

    def submitted(self, futures: list) -> None:
        """Called once a step's tasks are submitted (tests inject faults here)."""

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


# --- the backend this process uses ------------------------------------------------------------

_LOCAL = LocalBackend()
_lock = threading.Lock()
_stack: list[Backend] = []


def current() -> Backend:
    """The backend opened by the innermost :func:`use` / :func:`session` (else local)."""
    return _stack[-1] if _stack else _LOCAL


@contextmanager
def use(backend: Backend) -> Iterator[Backend]:
    with _lock:
        _stack.append(backend)
    try:
        yield backend
    finally:
        with _lock:
            _stack.remove(backend)


def from_config(cfg: Mapping | None) -> Backend:
    cfg = dict(cfg or {})
    name = cfg.pop("name", "local")
    if name == "local":
        return LocalBackend(progress=bool(cfg.get("progress", True)))
    if name == "dask":
        return DaskBackend(**cfg)
    raise ValueError(f"backend.name must be 'local' or 'dask', got {name!r}")


@contextmanager
def session(cfg: Mapping | None) -> Iterator[Backend]:
    """The configured backend for the duration of a pipeline; a pipeline called from another
    (``make run`` runs every step) reuses the backend its caller opened."""
    if _stack:
        yield _stack[-1]
        return
    backend = from_config(cfg)
    try:
        with use(backend):
            yield backend
    finally:
        backend.close()
