"""Where partitioned work runs: in this process (``backend=local``) or on Dask (``backend=dask``).

Callers map a top-level function over items (feature-store partitions, series groups, customer
slices, tuning trials) with :func:`current` ``().map(fn, items)``; which engine runs them is
configuration (``conf/backend/*.yaml``), opened once per process by :func:`session`.
"""

from src.compute.backend import (
    Backend,
    DaskBackend,
    LocalBackend,
    PartitionFailed,
    current,
    describe_ids,
    from_config,
    session,
    use,
)

__all__ = [
    "Backend",
    "DaskBackend",
    "LocalBackend",
    "PartitionFailed",
    "current",
    "describe_ids",
    "from_config",
    "session",
    "use",
]
