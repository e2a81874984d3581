"""Files written as one set, atomically — the floor every stage output and canonical table stands on.

A *table set* is a folder of ``<name>.parquet`` files (or, for a large table, a folder
``<name>/part-00000.parquet …`` split by a stable hash of a key, with ``_partitioning.json``
saying how) written by :func:`write_frames`: every Parquet file carries the write's
*generation* in its footer, files are moved into place one by one and ``_tables.json`` (naming
the generation) is moved in last. :func:`check_complete` refuses a folder whose files disagree
with it — what a write killed half-way leaves — until a complete write replaces it.

Moved here from ``src/features/tables.py`` so that both the ingest (canonical tables) and the
outputs catalogue (plans, and every stage output) write through the one mechanism.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)

PARTITIONING = "_partitioning.json"


def bucket(values: pd.Series, n: int) -> np.ndarray:
    """Stable partition number in ``0..n-1`` of each value (same on every machine and run)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)  # hash each id once
    hashed = pd.util.hash_array(np.asarray(pd.Index(uniques).astype(str), dtype=object))
    return (hashed % np.uint64(n)).astype(np.int64)[codes]


TABLESET = "_tables.json"  # written last: the generation every table file of the set carries
GENERATION_KEY = b"retail_brain.generation"


class IncompleteTables(FileNotFoundError):
    """A folder whose table files are not all from one write (a replacement cut short)."""


def table_files(folder: str | Path, name: str) -> list[Path] | None:
    """The Parquet files of table ``name`` in ``folder`` (one file, or a partitioned folder's
    parts in order); None when the table is not there."""
    folder = Path(folder)
    single = folder / f"{name}.parquet"
    if single.is_file():
        return [single]
    parts = folder / name
    if (parts / PARTITIONING).is_file():
        return sorted(parts.glob("part-*.parquet"))
    return None


def partitioning(folder: str | Path, name: str) -> dict | None:
    """``{"by": column, "partitions": n}`` of a partitioned table, None for a single file."""
    meta = Path(folder) / name / PARTITIONING
    return json.loads(meta.read_text()) if meta.is_file() else None


def generation_of(path: Path) -> str | None:
    """The write a table file belongs to (Parquet footer metadata; None: written elsewhere)."""
    meta = pq.read_schema(path).metadata or {}
    value = meta.get(GENERATION_KEY)
    return value.decode() if value is not None else None


def check_complete(folder: str | Path, names=None) -> None:
    """Raise :class:`IncompleteTables` when a table file in ``folder`` is not from the write its
    ``_tables.json`` names — a replacement killed between two file moves leaves new files beside
    old ones, which must never be read as one data set. Folders without ``_tables.json``
    (tables written by other tools) are not checked."""
    folder = Path(folder)
    meta_path = folder / TABLESET
    if not meta_path.is_file():
        return
    meta = json.loads(meta_path.read_text())
    wanted = meta["generation"]
    for name in names if names is not None else meta["tables"]:
        files = table_files(folder, name)
        if files is None:
            raise IncompleteTables(
                f"{folder}: table {name!r} of the last write is missing; re-run the step that "
                "writes this folder (`python -m pipelines.ingest` for canonical tables)"
            )
        if name in meta["tables"] and len(files) != meta["tables"][name]["files"]:
            raise IncompleteTables(
                f"{folder}: table {name!r} has {len(files)} file(s), the last write made "
                f"{meta['tables'][name]['files']}; a replacement was cut short — re-run the step"
            )
        for f in files:
            found = generation_of(f)
            if found is not None and found != wanted:
                raise IncompleteTables(
                    f"{folder}: {f.relative_to(folder)} is from write {found}, the table set is "
                    f"write {wanted}: a replacement was cut short (killed?) and the folder mixes "
                    "two writes; re-run the step that writes it (`python -m pipelines.ingest` "
                    "for canonical tables) — nothing was read"
                )


def split_by_key(frame: pd.DataFrame, key: str, partition_rows: int) -> list[pd.DataFrame]:
    """``frame`` in ``ceil(rows / partition_rows)`` parts by a stable hash of ``key`` (each key's
    rows whole in one part, original row order kept inside a part)."""
    n = max(1, math.ceil(len(frame) / max(int(partition_rows), 1)))
    part = bucket(frame[key], n)
    return [frame[part == k] for k in range(n)]


def _write_parquet(
    frame: pd.DataFrame, path: Path, generation: str, extra: Mapping[bytes, bytes] | None = None
) -> None:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {**(table.schema.metadata or {}), GENERATION_KEY: generation.encode(), **(extra or {})}
    pq.write_table(table.replace_schema_metadata(meta), path)


def _leftover(path: Path) -> bool:
    """A ``.staging-<pid>-*`` / ``.incoming-<pid>-*`` folder whose writer is gone."""
    parts = path.name.split("-")
    if len(parts) < 3 or not parts[1].isdigit():
        return True  # an older layout without the pid
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def clean_leftovers(target: Path) -> list[Path]:
    """Remove what a killed write left in ``target`` (its staging and old-version folders)."""
    removed = []
    for pattern in (".staging-*", ".incoming-*"):
        for p in target.glob(pattern):
            if p.is_dir() and _leftover(p):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed


def _atomic_replace(
    target: Path, files: dict[str, bytes | Path], tableset: dict, partitioned=()
) -> None:
    """Move all ``files`` into place, then write ``_tables.json`` (manifest last).

    Each move is atomic, the set is not: a process killed between two moves leaves new files
    beside old ones — under the *old* ``_tables.json``, whose generation the new files do not
    carry, so :func:`check_complete` refuses the folder until a complete write replaces it.
    A name may be a folder (a partitioned table); a table that changes form loses the old one.
    """
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".incoming-{os.getpid()}-", dir=target))
    try:
        for name, content in files.items():
            if isinstance(content, Path):
                shutil.move(str(content), tmp / name)
            else:
                (tmp / name).write_bytes(content)
        for name in files:
            stem = name.removesuffix(".parquet")
            other = target / (stem if name.endswith(".parquet") else f"{name}.parquet")
            if (target / name).is_dir():  # os.replace cannot replace a folder: set it aside
                (target / name).rename(tmp / f".old-{name}")
            os.replace(tmp / name, target / name)
            if stem in partitioned and other.exists():
                if other.is_dir():
                    shutil.rmtree(other)
                else:
                    other.unlink()
        (tmp / TABLESET).write_text(json.dumps(tableset, indent=2))
        os.replace(tmp / TABLESET, target / TABLESET)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_frames(
    target: str | Path,
    frames: Mapping[str, pd.DataFrame],
    extra: Mapping[str, str] | None = None,
    partition_rows: int | None = None,
    partition_keys: Mapping[str, str] | None = None,
    metadata: Mapping[bytes, bytes] | None = None,
) -> str:
    """Write ``name.parquet`` for each frame (and text files in ``extra``) as one set; a table
    named in ``partition_keys`` (table -> key column) with more than ``partition_rows`` rows
    becomes a partitioned folder; ``metadata`` goes into every Parquet footer (an output's
    version and lineage). Returns the write's generation.

    Every Parquet file carries the write's generation and ``_tables.json`` is written last
    (:func:`_atomic_replace`); what a killed earlier write left behind is removed first.
    """
    target = Path(target)
    if target.exists():
        for p in clean_leftovers(target):
            log.info("removed %s, left by an interrupted write", p)
    generation = uuid.uuid4().hex
    staging = Path(
        tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=target if target.exists() else None)
    )
    try:
        files: dict[str, bytes | Path] = {}
        tables = {}
        for name, frame in frames.items():
            key = (partition_keys or {}).get(name)
            if key and partition_rows and len(frame) > partition_rows:
                folder = staging / name
                folder.mkdir()
                parts = split_by_key(frame, key, partition_rows)
                for k, part in enumerate(parts):
                    _write_parquet(part, folder / f"part-{k:05d}.parquet", generation, metadata)
                (folder / PARTITIONING).write_text(
                    json.dumps({"by": key, "partitions": len(parts), "rows": len(frame)})
                )
                files[name] = folder
                tables[name] = {"files": len(parts), "rows": len(frame)}
                continue
            path = staging / f"{name}.parquet"
            _write_parquet(frame, path, generation, metadata)
            files[f"{name}.parquet"] = path
            tables[name] = {"files": 1, "rows": len(frame)}
        for name, text in (extra or {}).items():
            files[name] = text.encode()
        tableset = {
            "generation": generation,
            "written": pd.Timestamp.now("UTC").isoformat(),
            "tables": tables,
        }
        _atomic_replace(target, files, tableset, tuple(partition_keys or ()))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return generation


def fingerprint(paths: list[str | Path]) -> str:
    """SHA-256 over the bytes of the given files (the data fingerprint logged with runs)."""
    h = hashlib.sha256()
    for p in sorted(map(str, paths)):
        h.update(Path(p).name.encode())
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
