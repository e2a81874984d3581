"""`python -m benchmarks.compare_outputs BEFORE AFTER`: is every output of `make run` the same?

Compares two ``data/processed`` folders (a run of the code before a change and one after it, on
the same embedded data): every Parquet table by content (rows sorted by all columns, so a
different row order alone is not a difference; floats to ``--rtol``), every CSV and JSON file
by content, and which files exist on each side. Feature-store versions are compared as tables
too (their folder names carry the spec hash and the data fingerprint, so a changed spec shows
as a file present on one side only). Prints one line per file and a summary; ``--json`` writes
the report. Exit 0 when nothing differs, 1 otherwise — the differences are for a person to
explain (a new output, a timing column), not for this script to hide.

Files that hold the time of the run (``*.html`` reports, ``ingest_report.json`` seconds,
``routing/summary.json`` seconds, ``_tables.json`` / manifests' write stamps and generations)
are compared with those keys or lines dropped, and say so.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

# keys that hold when a run happened, or a fingerprint of canonical-table files whose footers
# carry each write's random generation: they differ between two runs of the same code
VOLATILE_KEYS = {"written", "generation", "seconds", "built", "created", "time_s",
                 "source_fingerprint"}  # fmt: skip
SKIP_DIRS = {".staging", ".incoming"}
HIVE_FILE = re.compile(r"[0-9a-f]{32}-\d+\.parquet")


def _version_free(rel: str, versions: dict[str, set[str]]) -> str:
    """``features/<set>/<version>/…`` -> ``features/<set>/<version>/…`` with the version replaced
    by ``*`` when the set has one version: versions carry the canonical tables' fingerprint, and
    each ingest writes a new generation into the tables' footers, so two runs of the same code
    name the same feature set differently."""
    parts = rel.split("/")
    if len(parts) > 3 and parts[0] == "features" and len(versions.get(parts[1], ())) == 1:
        parts[2] = "*"
    if len(parts) > 1 and "=" in parts[-2] and HIVE_FILE.fullmatch(parts[-1]):
        parts[-1] = "*.parquet"  # a Hive partition's file, named by pyarrow with a random uuid
    return "/".join(parts)


def _files(root: Path) -> dict[str, Path]:
    out = {}
    for p in root.rglob("*"):
        if not p.is_file() or any(part.startswith(tuple(SKIP_DIRS)) for part in p.parts):
            continue
        rel = p.relative_to(root).as_posix()
        if p.suffix in {".db", ".npy", ".png", ".lock"} or rel.endswith("-journal"):
            continue  # stores and pictures: compared through what they feed, not byte by byte
        out[rel] = p
    versions: dict[str, set[str]] = {}
    for rel in out:
        parts = rel.split("/")
        if len(parts) > 3 and parts[0] == "features":
            versions.setdefault(parts[1], set()).add(parts[2])
    return {_version_free(rel, versions): p for rel, p in out.items()}


def _scrub(value):
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _frame_diff(a: pd.DataFrame, b: pd.DataFrame, rtol: float) -> str | None:
    if list(a.columns) != list(b.columns):
        return f"columns {list(a.columns)} vs {list(b.columns)}"
    if len(a) != len(b):
        return f"{len(a)} vs {len(b)} rows"
    if a.empty:
        return None
    try:
        key = list(a.columns)
        a = a.sort_values(key, kind="stable", ignore_index=True)
        b = b.sort_values(key, kind="stable", ignore_index=True)
    except TypeError:  # unsortable objects (lists): compare in stored order
        a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    bad = []
    for col in a.columns:
        x, y = a[col], b[col]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xv, yv = x.to_numpy(float), y.to_numpy(float)
            same = np.isclose(xv, yv, rtol=rtol, atol=1e-9, equal_nan=True)
        else:
            same = (x.astype(str) == y.astype(str)).to_numpy()
        if not same.all():
            bad.append(f"{col} ({int((~same).sum())} rows)")
    return "values differ: " + ", ".join(bad) if bad else None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str)
    except pd.errors.EmptyDataError:  # an empty table written without a header
        return pd.DataFrame()


def compare(before: Path, after: Path, rtol: float = 1e-6) -> dict:
    fa, fb = _files(before), _files(after)
    report = {"only_before": sorted(set(fa) - set(fb)), "only_after": sorted(set(fb) - set(fa))}
    same, differ = [], {}
    for rel in sorted(set(fa) & set(fb)):
        a, b = fa[rel], fb[rel]
        why = None
        if a.suffix == ".parquet":
            why = _frame_diff(pd.read_parquet(a), pd.read_parquet(b), rtol)
        elif a.suffix == ".json":
            ja, jb = _scrub(json.loads(a.read_text())), _scrub(json.loads(b.read_text()))
            why = None if ja == jb else "JSON differs (run-time keys dropped)"
        elif a.suffix == ".csv":
            why = _frame_diff(_read_csv(a), _read_csv(b), rtol)
        elif a.suffix in {".html", ".txt", ".log"}:
            strip = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}[^<\s]*|\d+\.\d+ s\b")
            ta, tb = strip.sub("", a.read_text()), strip.sub("", b.read_text())
            why = None if ta == tb else "text differs (time stamps dropped)"
        elif a.read_bytes() != b.read_bytes():
            why = "bytes differ"
        if why:
            differ[rel] = why
        else:
            same.append(rel)
    report.update(same=same, differ=differ)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--rtol", type=float, default=1e-6)
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    report = compare(a.before, a.after, a.rtol)
    for rel in report["same"]:
        print(f"same     {rel}")
    for rel, why in report["differ"].items():
        print(f"DIFFERS  {rel}: {why}")
    for rel in report["only_before"]:
        print(f"GONE     {rel}")
    for rel in report["only_after"]:
        print(f"NEW      {rel}")
    print(f"{len(report['same'])} same, {len(report['differ'])} differ, "
          f"{len(report['only_before'])} only before, {len(report['only_after'])} only after")  # fmt: skip
    if a.json:
        a.json.write_text(json.dumps(report, indent=1))
    changed = report["differ"] or report["only_before"] or report["only_after"]
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
