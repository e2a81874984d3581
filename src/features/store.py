"""The feature store: versioned, partitioned feature sets — the interface every task reads.

A **feature set** is defined by a spec (:mod:`src.features.sets`): what it is built from (some
canonical tables), with which parameters, into which tables. The store writes each build as a
*version* folder::

    <root>/<set name>/<version>/manifest.json
    <root>/<set name>/<version>/<table>/part-00000.parquet … part-<n-1>.parquet

* ``version`` = ``<spec hash>-<source fingerprint>`` (first 10 hex digits each): the same spec on
  the same canonical tables is the same version, so a build is never repeated needlessly and a
  changed spec or changed data never overwrites what another spec reads;
* a table with a partition column is split into ``partitions`` files by a stable hash of that
  column, so one worker can read one slice with whole series (or whole customers) in it;
* the **manifest** holds the spec, the source fingerprint, the content fingerprint (SHA-256 over
  every file written — the ``data_fingerprint`` tasks log with their runs), and per table its
  columns, sort order and the rows and bytes of every partition.

Readers ask :meth:`FeatureStore.get` for a spec. When the canonical tables are there, the version
matching them is used, or built through the same code path as ``build_features``
(``on_missing="build"``) — or refused with a message saying what to run (``"error"``). When the
canonical tables are gone, the newest version of the same spec is read: features are enough.
A write goes to a hidden folder and is renamed into place once complete; a half-written version
is never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from src.compute import current
from src.features import columns as C
from src.features.tables import (
    IncompleteTables,
    bucket,
    check_complete,
    fingerprint,
    partitioning,
    read_table,
    read_tables,
    table_files,
)

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the layout or a builder's output changes for the same spec
MANIFEST = "manifest.json"


class FeatureSetMissing(FileNotFoundError):
    """A feature set that was not built and cannot be built here."""


def combine(*fingerprints: str) -> str:
    """One fingerprint for several inputs (a run that reads three feature sets and a file)."""
    return hashlib.sha256("|".join(fingerprints).encode()).hexdigest()


def spec_hash(kind: str, params: Mapping) -> str:
    text = json.dumps({"format": FORMAT, "kind": kind, **params}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def is_sorted(frame: pd.DataFrame, keys: list[str]) -> bool:
    """Whether ``frame`` is already in lexicographic order of ``keys`` (builders mostly return
    sorted frames: checking costs a fraction of sorting millions of string keys)."""
    if len(frame) < 2 or not keys:
        return True
    try:
        tied = np.ones(len(frame) - 1, bool)
        before = np.zeros(len(frame) - 1, bool)
        for k in keys:
            v = frame[k].to_numpy()
            before |= tied & (v[:-1] < v[1:])
            tied &= v[:-1] == v[1:]
        return bool((before | tied).all())
    except TypeError:  # missing values or mixed types: let the sort decide
        return False


def in_layout_order(frame: pd.DataFrame, layout) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` in ``layout``'s sort order (sorted only when it is not already), and the keys."""
    sort = [c for c in layout.sort if c in frame]
    if sort and not is_sorted(frame, sort):
        frame = frame.sort_values(sort, kind="stable", ignore_index=True)
    return frame, sort


@dataclass(frozen=True)
class TableLayout:
    """How one table of a feature set is stored: split by ``partition_by``, ordered by ``sort``."""

    partition_by: str | None
    sort: tuple[str, ...]


class FeatureSet:
    """One built version of a feature set, read-only."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.manifest = json.loads((self.path / MANIFEST).read_text())

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return self.path.name

    @property
    def fingerprint(self) -> str:
        """Content fingerprint: what runs trained on these features log as ``data_fingerprint``."""
        return self.manifest["fingerprint"]

    @property
    def tables(self) -> list[str]:
        return list(self.manifest["tables"])

    def rows(self, table: str) -> int:
        return sum(p["rows"] for p in self.manifest["tables"][table]["partitions"])

    def partitions(self, table: str) -> list[int]:
        """Partition numbers holding rows (what a backend maps work over)."""
        return [p["partition"] for p in self.manifest["tables"][table]["partitions"] if p["rows"]]

    def read(
        self,
        table: str,
        columns: Sequence[str] | None = None,
        partitions: Sequence[int] | None = None,
    ) -> pd.DataFrame:
        """The table (or the given partitions of it), in its declared sort order."""
        if table not in self.manifest["tables"]:
            raise KeyError(
                f"feature set {self.name!r} has no table {table!r}; it has {self.tables}"
            )
        meta = self.manifest["tables"][table]
        parts = meta["partitions"]
        if partitions is not None:
            wanted = set(partitions)
            parts = [p for p in parts if p["partition"] in wanted]
        files = [str(self.path / p["file"]) for p in parts]
        frame = (
            ds.dataset(files, format="parquet").to_table(columns=columns).to_pandas()
            if files
            else pd.DataFrame(columns=columns or meta["columns"])
        )
        sort = [c for c in meta["sort"] if c in frame]
        if len(parts) > 1 and sort:
            frame = frame.sort_values(sort, kind="stable", ignore_index=True)
        return frame


class FeatureStore:
    """Feature sets under ``root``, built from the canonical tables in ``tables_dir``.

    ``partitions``: files per partitioned table; ``on_missing``: ``build`` (a reader's spec that
    was not built yet is built now) or ``error``; ``keep_versions``: versions kept per set.
    """

    def __init__(
        self,
        root: str | Path,
        tables_dir: str | Path | None = None,
        partitions: int = 8,
        on_missing: str = "build",
        keep_versions: int = 2,
    ):
        if on_missing not in ("build", "error"):
            raise ValueError(f"features.on_missing must be 'build' or 'error', got {on_missing!r}")
        if partitions < 1 or keep_versions < 1:
            raise ValueError("features.partitions and features.keep_versions must be >= 1")
        self.root = Path(root)
        self.tables_dir = Path(tables_dir) if tables_dir is not None else None
        self.partitions = int(partitions)
        self.on_missing = on_missing
        self.keep_versions = int(keep_versions)
        self._tables = None
        self._fingerprints: dict[tuple, str] = {}

    # --- sources -----------------------------------------------------------------------------
    def _table_files(self, names: Sequence[str]) -> list[Path] | None:
        if self.tables_dir is None:
            return None
        found = {n: table_files(self.tables_dir, n) for n in names}
        try:  # never fingerprint or read a folder that mixes two writes
            check_complete(self.tables_dir, [n for n, f in found.items() if f])
        except IncompleteTables as err:
            raise FeatureSetMissing(str(err)) from err
        if any(f is None for f in found.values()):
            return None
        return [f for fs in found.values() for f in fs]

    def source_fingerprint(self, spec) -> str | None:
        """Fingerprint of the canonical tables ``spec`` is built from (None: not all there)."""
        files = self._table_files(spec.sources)
        return self._fingerprint(files) if files else None

    def _fingerprint(self, files: list[Path]) -> str:
        """Hash of the files, computed once per state of them (sets share their sources)."""
        stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
        if stamp not in self._fingerprints:
            self._fingerprints[stamp] = fingerprint(files)
        return self._fingerprints[stamp]

    def canonical_tables(self):
        """The canonical tables, read once per state of their files (several sets share them)."""
        if self.tables_dir is None:
            raise FeatureSetMissing("no canonical tables folder configured (paths.tables)")
        stamp = tuple(
            (str(p), p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted([*self.tables_dir.glob("*.parquet"), *self.tables_dir.glob("*/*")])
        )
        if self._tables is None or self._tables[0] != stamp:
            self._tables = (stamp, read_tables(self.tables_dir))
        return self._tables[1]

    # --- versions ----------------------------------------------------------------------------
    def version_of(self, spec, source_fp: str) -> str:
        return f"{spec_hash(spec.kind, spec.params())[:10]}-{source_fp[:10]}"

    def versions(self, spec) -> list[FeatureSet]:
        """Built versions of ``spec`` (same parameters), newest first."""
        folder = self.root / spec.name
        if not folder.exists():
            return []
        prefix = spec_hash(spec.kind, spec.params())[:10] + "-"
        found = [
            FeatureSet(p)
            for p in folder.iterdir()
            if p.is_dir() and p.name.startswith(prefix) and (p / MANIFEST).exists()
        ]
        return sorted(found, key=lambda f: f.manifest["created"], reverse=True)

    def get(self, spec) -> FeatureSet:
        """The feature set for ``spec`` on the current canonical tables (see the module doc)."""
        source_fp = self.source_fingerprint(spec)
        if source_fp is not None:
            path = self.root / spec.name / self.version_of(spec, source_fp)
            if (path / MANIFEST).exists():
                return FeatureSet(path)
            if self.on_missing == "build":
                built = self.versions(spec)
                why = "the canonical tables changed since" if built else "it was never built"
                log.info("building feature set %s: %s", spec.describe(), why)
                return self.build(spec)
            raise FeatureSetMissing(
                f"feature set {spec.describe()} is not built for the canonical tables in "
                f"{self.tables_dir}; run `python -m pipelines.build_features` (or set "
                "features.on_missing=build)"
            )
        built = self.versions(spec)
        if built:
            log.info(
                "canonical tables not found in %s: reading feature set %s version %s",
                self.tables_dir,
                spec.name,
                built[0].version,
            )
            return built[0]
        raise FeatureSetMissing(
            f"feature set {spec.describe()} was never built under {self.root} and the canonical "
            f"tables it is built from ({', '.join(spec.sources)}) are not in {self.tables_dir}; "
            "run `python -m pipelines.ingest` and `python -m pipelines.build_features` first"
        )

    # --- building ----------------------------------------------------------------------------
    def build(self, spec) -> FeatureSet:
        """Build ``spec`` from the canonical tables and write it as a new version."""
        files = self._table_files(spec.sources)
        if files is None:
            raise FeatureSetMissing(
                f"cannot build feature set {spec.describe()}: canonical tables "
                f"{list(spec.sources)} not all found in {self.tables_dir}; run "
                "`python -m pipelines.ingest` first"
            )
        source_fp = self._fingerprint(files)
        t = time.perf_counter()
        parts = self._transaction_parts(spec)
        if parts:
            built = self._build_by_partition(spec, parts, source_fp)
        else:
            built = self.write(spec, spec.build(self.canonical_tables()), source_fp)
        log.info(
            "[features] %s: %s (%.1f s)",
            spec.name,
            ", ".join(f"{t_} {built.rows(t_):,} rows" for t_ in built.tables),
            time.perf_counter() - t,
        )
        return built

    def _transaction_parts(self, spec) -> list[Path] | None:
        """The part files of partitioned canonical transactions, when ``spec`` builds per part."""
        if not spec.by_partition or self.tables_dir is None:
            return None
        if partitioning(self.tables_dir, "transactions") is None:
            return None
        return table_files(self.tables_dir, "transactions")

    def _build_by_partition(self, spec, parts: list[Path], source_fp: str) -> FeatureSet:
        """One task per part of the canonical transactions (mapped by the configured backend):
        each reads its part and the products, builds its SKUs' rows and writes them as its own
        partition of every table. Only the bounds every part must share (the panel's period
        grid) pass through this process — the brand's transactions never do."""
        products = read_table(self.tables_dir, "products")
        items = [SourcePart(k, str(f)) for k, f in enumerate(parts)]
        columns = list(spec.transaction_columns)
        backend = current()
        found = backend.map(
            _part_bounds,
            items,
            label=f"{spec.name} bounds",
            spec=spec,
            products=products,
            columns=columns,
        )
        found = [b for b in found if b is not None]
        bounds = (min(b[0] for b in found), max(b[1] for b in found)) if found else None
        folder = self.root / spec.name
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=folder))
        try:
            written = backend.map(
                _build_part,
                items,
                label=f"{spec.name} build",
                spec=spec,
                products=products,
                columns=columns,
                bounds=bounds,
                staging=str(staging),
            )
            tables, digests = {}, []
            source = f"transactions by {partitioning(self.tables_dir, 'transactions')['by']}"
            for table in spec.layouts:
                metas = [w[table] for w in written]
                tables[table] = {
                    "columns": metas[0]["columns"],
                    "partition_by": metas[0]["partition_by"],
                    "sort": metas[0]["sort"],
                    "partitioned_from": source,
                    "partitions": [
                        {k: m[k] for k in ("partition", "file", "rows", "bytes", "sha256")}
                        for m in metas
                    ],
                }
                digests += [f"{m['file']}:{m['sha256']}" for m in metas]
            return self._publish(spec, staging, tables, digests, source_fp, len(items))
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def write(self, spec, frames: Mapping[str, pd.DataFrame], source_fp: str) -> FeatureSet:
        """Write ``frames`` (table name -> frame) as the version of ``spec`` on ``source_fp``."""
        folder = self.root / spec.name
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=folder))
        try:
            tables, digests = {}, []
            for table, frame in frames.items():
                layout = spec.layout(table)
                tables[table], d = self._write_table(staging, table, frame, layout)
                digests += d
            return self._publish(spec, staging, tables, digests, source_fp, self.partitions)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _publish(
        self, spec, staging: Path, tables: dict, digests: list[str], source_fp: str, n: int
    ) -> FeatureSet:
        """Manifest last, then one rename: a version is complete or absent, never half there."""
        folder = self.root / spec.name
        version = self.version_of(spec, source_fp)
        manifest = {
            "name": spec.name,
            "kind": spec.kind,
            "spec": spec.params(),
            "sources": list(spec.sources),
            "source_fingerprint": source_fp,
            "fingerprint": combine(*sorted(digests)),
            "format": FORMAT,
            "created": pd.Timestamp.now("UTC").isoformat(),
            "partitions": n,
            "tables": tables,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        target = folder / version
        if target.exists():  # the same version rebuilt: swap, never leave a half state
            trash = folder / f".old-{version}-{time.time_ns()}"
            target.rename(trash)
            staging.rename(target)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            staging.rename(target)
        self._prune(spec)
        return FeatureSet(target)

    def _write_table(
        self, staging: Path, table: str, frame: pd.DataFrame, layout: TableLayout
    ) -> tuple[dict, list[str]]:
        frame, sort = in_layout_order(frame, layout)
        n = self.partitions if layout.partition_by else 1
        part = (
            bucket(frame[layout.partition_by], n) if layout.partition_by else np.zeros(len(frame))
        )
        parts = [_write_part(staging, table, k, frame[part == k]) for k in range(n)]
        digests = [f"{p['file']}:{p['sha256']}" for p in parts]
        meta = {
            "columns": [str(c) for c in frame.columns],
            "partition_by": layout.partition_by,
            "sort": sort,
            "partitions": parts,
        }
        return meta, digests

    def _prune(self, spec) -> None:
        """Keep the newest ``keep_versions`` versions of this spec; older ones are removed."""
        for old in self.versions(spec)[self.keep_versions :]:
            shutil.rmtree(old.path, ignore_errors=True)


def _write_part(staging: Path, table: str, k: int, frame: pd.DataFrame) -> dict:
    """``<table>/part-<k>.parquet`` under ``staging``, and its manifest entry."""
    rel = f"{table}/part-{k:05d}.parquet"
    (staging / table).mkdir(exist_ok=True)
    frame.to_parquet(staging / rel, index=False)
    return {
        "partition": k,
        "file": rel,
        "rows": int(len(frame)),
        "bytes": (staging / rel).stat().st_size,
        "sha256": fingerprint([staging / rel]),
    }


@dataclass(frozen=True)
class SourcePart:
    """Part ``index`` of the partitioned canonical transactions (a task of a partitioned build)."""

    index: int
    file: str

    def describe(self) -> str:
        return f"transactions partition {self.index} ({self.file})"


def _part_bounds(part: SourcePart, spec, products: pd.DataFrame, columns: list[str]):
    """Runs on a worker: what ``spec`` needs every part to agree on, from this part."""
    tx = read_table(Path(part.file).parent, "transactions", columns, files=[Path(part.file)])
    return spec.partition_bounds(tx, products)


def _build_part(
    part: SourcePart, spec, products: pd.DataFrame, columns: list[str], bounds, staging: str
) -> dict:
    """Runs on a worker: ``spec``'s tables for one part, written as partition ``part.index``."""
    tx = read_table(Path(part.file).parent, "transactions", columns, files=[Path(part.file)])
    out = {}
    for table, frame in spec.build_partition(tx, products, bounds).items():
        frame, sort = in_layout_order(frame, spec.layout(table))
        meta = _write_part(Path(staging), table, part.index, frame)
        out[table] = {
            **meta,
            "columns": [str(c) for c in frame.columns],
            "partition_by": C.SKU,
            "sort": sort,
        }
    return out
