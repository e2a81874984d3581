"""The outputs catalogue: every stage output declared once, written and read only through here.

An :class:`Output` names a stage's result (``forecast``, ``suggestions``, ``recommendations``,
``clv``, ``kpis`` …): the folder it lives in (a key of ``conf/paths``), its file inside it (a
template when one output has several instances, e.g. one forecast per registered model), its
pandera schema and keys, how it is partitioned, whether people get a CSV twin, and the step that
makes it. Writers call :func:`write` (validated against the schema, atomic, stamped with a
version and its lineage: the feature-set versions and the MLflow run that made it); readers call
:func:`read` by name. No module outside ``src/outputs`` spells an output's file name
(``tests/unit/test_outputs_catalogue.py`` greps for them), so a hand-off that changes is
changed here once and import-linter sees every hand-off as an import of this package.

Outputs written together (the plan's suggestions, transfers and newsvendor buys) share a
``group`` and go through :func:`write_group` — one table set with one generation
(:mod:`src.outputs.files`), so a reader never sees suggestions of one plan beside transfers of
another. Outputs kept in MLflow (a champion's backtest window) are declared with ``folder=None``
and an ``artifact`` path; :func:`artifact_path` gives it to the writer (the task) and reader
(the monitor, the review report).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import string
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pandera.errors
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.parquet as pq

from src.outputs import schemas as S
from src.outputs.csv import to_csv
from src.outputs.files import write_frames

log = logging.getLogger(__name__)

LINEAGE_KEY = b"retail_brain.output"
SAFE_NAME = re.compile(r"[A-Za-z0-9_\-]{1,100}")  # a CSV per value of csv_by: names that are safe


@dataclass(frozen=True)
class Output:
    name: str
    folder: str | None  # key of conf/paths; None: an MLflow artifact of the run that made it
    file: str  # relative path (template with {params}); a folder where partition_by is set
    schema: Callable[[], pa.DataFrameSchema] | None
    made_by: str  # what to run when it is missing
    keys: tuple[str, ...] = ()
    partition_by: str | None = None  # a hive-partitioned folder by this column
    csv: bool = False  # a CSV twin for people (formula-escaped)
    csv_by: str | None = None  # also one CSV per value of this column, beside the file
    group: str | None = None  # written together with the other outputs of the group
    kind: str = "table"  # table | json
    description: str = ""

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(f for _, f, _, _ in string.Formatter().parse(self.file) if f)


OUTPUTS: dict[str, Output] = {
    o.name: o
    for o in [
        # --- forecasting -------------------------------------------------------------------
        Output("forecast", "forecasts", "{registered}.parquet", S.forecast,
               "make train-forecast", keys=("unique_id", "ds"),
               description="the champion's next-horizon forecast (mean + quantiles)"),
        Output("forecast_levels", "forecasts", "{registered}_levels.parquet", S.forecast_levels,
               "make train-forecast", keys=("unique_id", "ds"),
               description="a reconciled champion's every hierarchy level, adding up"),
        Output("backtest_window", None, "backtest/last_window.parquet", S.backtest,
               "make train-forecast", keys=("unique_id", "ds"),
               description="the last backtest window of a forecast run (MLflow artifact)"),
        Output("backtest_actuals", None, "backtest/actuals.parquet", None, "make train-forecast",
               description="the history before it (MLflow artifact)"),
        # --- recommendations ---------------------------------------------------------------
        Output("recommendations", "recommendations", "recommendations.parquet",
               S.recommendations, "make train-recsys", keys=("customer_id", "rank"),
               description="top-k recommendations of the champion for every known customer"),
        # --- planning (one table set) ------------------------------------------------------
        Output("suggestions", "plans", "suggestions.parquet", S.suggestions, "make plan",
               keys=("location_id", "sku"), csv=True, group="plan",
               description="reorder suggestions, one row per location x SKU"),
        Output("transfers", "plans", "transfers.parquet", S.transfers, "make plan", csv=True,
               group="plan", description="stock to move between locations before buying"),
        Output("newsvendor", "plans", "newsvendor.parquet", None, "make plan", csv=True,
               group="plan", description="one-shot season buys, when enabled"),
        Output("plan_simulation", "plans", "simulation.parquet", S.simulation, "make plan",
               keys=("policy",), csv=True,
               description="the configured policies replayed on recent history"),
        # --- marketing ---------------------------------------------------------------------
        Output("clv", "marketing", "clv.parquet", S.clv, "make clv", keys=("customer_id",),
               description="lifetime value, p_alive and tier per customer"),
        Output("audiences", "marketing", "audiences/audiences.parquet", S.audiences,
               "make audiences", keys=("audience", "customer_id"), csv_by="audience",
               description="the latest run's audiences, treated and holdout"),
        Output("audience_report", "marketing", "audiences/report.parquet", None,
               "make audiences", csv=True, description="per audience: sizes, suppression"),
        Output("restocked_skus", "marketing", "audiences/restocked_skus.parquet", None,
               "make audiences", csv=True, description="SKUs back in stock on the run's day"),
        Output("contacts", "marketing", "contacts.parquet", S.contacts, "make audiences",
               keys=("audience", "as_of", "customer_id"),
               description="every treated and holdout customer of every audience run"),
        Output("campaign_results", "marketing", "campaigns/results.parquet", S.campaign_results,
               "make campaigns", keys=("campaign_id",), csv=True,
               description="effect, ROI and verdict per measured campaign"),
        Output("campaign_power", "marketing", "campaigns/power.parquet", None, "make campaigns",
               csv=True, description="sample sizes for the next test"),
        Output("uplift_studies", "marketing", "campaigns/uplift.parquet", None, "make campaigns",
               csv=True, description="uplift learners' Qini per randomised campaign"),
        Output("qini_curves", "marketing", "campaigns/qini_curves.parquet", None,
               "make campaigns", description="the Qini curves behind uplift_studies"),
        Output("next_targets", "marketing", "campaigns/next_targets.parquet", None,
               "make campaigns", csv=True, description="whom to target next, by uplift"),
        Output("campaigns_not_measured", "marketing", "campaigns/not_measured.parquet",
               S.not_measured, "make campaigns", keys=("campaign_id",), csv=True,
               description="campaigns not measured, with the reason"),
        # --- routing -----------------------------------------------------------------------
        Output("routing_assignments", "routing", "assignments.parquet", S.assignments,
               "make route-orders", keys=("order_id", "line"), csv=True,
               description="the node that ships each order line, with cost and delivery"),
        Output("routing_rejects", "routing", "rejects.parquet", S.rejects, "make route-orders",
               csv=True, description="order, network and stock rows refused, with file and rule"),
        Output("routing_summary", "routing", "summary.json", None, "make route-orders",
               kind="json", description="the batch's cost, service and peers"),
        Output("routing_snapshot", "routing", "service", None, "make route-orders",
               kind="folder", description="network, stock and duals POST /route serves from"),
        # --- monitor -----------------------------------------------------------------------
        Output("kpis", "monitor", "kpis", S.kpis, "make monitor", partition_by="grain",
               description="the tidy KPI table, one partition per grain"),
        Output("kpi_bands", "monitor", "bands.json", None, "make monitor", kind="json",
               description="model-health alert bands from the champion's backtest"),
        Output("forecast_archive", "monitor", "archive/forecasts/{registered}_{origin}.parquet",
               S.forecast, "make monitor", keys=("unique_id", "ds"),
               description="each champion forecast, kept to score once its days realise"),
        Output("recommendation_archive", "monitor", "archive/recommendations/{as_of}.parquet",
               S.recommendations, "make monitor", keys=("customer_id", "rank"),
               description="each recommendation set, kept to score its hit rate later"),
    ]
}  # fmt: skip


class OutputMissing(FileNotFoundError):
    """An output that its step has not written (yet)."""


class OutputSchemaError(ValueError):
    """A frame that does not meet its output's declared schema (nothing was written)."""


def standard_paths(processed: str | Path) -> dict[str, str]:
    """The output folders as ``conf/paths/default.yaml`` lays them out under one processed-data
    folder (for tools given only that folder: a benchmark's ``--processed``)."""
    folders = {o.folder for o in OUTPUTS.values() if o.folder is not None}
    return {"tables": str(processed), **{f: str(Path(processed) / f) for f in sorted(folders)}}


def spec(name: str) -> Output:
    try:
        return OUTPUTS[name]
    except KeyError:
        raise KeyError(
            f"no output {name!r} in the catalogue; declared: {sorted(OUTPUTS)}"
        ) from None


def file_name(name: str, **params) -> str:
    """The output's file (relative to its folder), e.g. for a bundle that carries a copy."""
    out = spec(name)
    missing = [p for p in out.params if p not in params]
    if missing:
        raise ValueError(f"output {name!r} needs {missing} ({out.file})")
    return out.file.format(**params)


def path(paths: Mapping, name: str, **params) -> Path:
    out = spec(name)
    if out.folder is None:
        raise ValueError(f"output {name!r} is an MLflow artifact ({out.file}), not a file")
    return Path(paths[out.folder]) / file_name(name, **params)


def artifact_path(name: str) -> str:
    out = spec(name)
    if out.folder is not None:
        raise ValueError(f"output {name!r} is a file in {out.folder}, not an MLflow artifact")
    return out.file


def csv_path(paths: Mapping, name: str, **params) -> Path:
    return path(paths, name, **params).with_suffix(".csv")


def exists(paths: Mapping, name: str, **params) -> bool:
    return path(paths, name, **params).exists()


def _missing(paths: Mapping, name: str, **params) -> OutputMissing:
    return OutputMissing(
        f"{path(paths, name, **params)}: no {name} output yet; run `{spec(name).made_by}` first"
    )


def read(paths: Mapping, name: str, columns: list[str] | None = None, **params) -> pd.DataFrame:
    """The stored output (raises :class:`OutputMissing` with what to run when absent)."""
    out, p = spec(name), path(paths, name, **params)
    if out.kind != "table":
        raise ValueError(f"output {name!r} is {out.kind}; use read_json")
    if not p.exists():
        raise _missing(paths, name, **params)
    return pd.read_parquet(p, columns=columns)


def read_if_exists(paths: Mapping, name: str, columns=None, **params) -> pd.DataFrame | None:
    return read(paths, name, columns, **params) if exists(paths, name, **params) else None


def read_json(paths: Mapping, name: str, **params):
    p = path(paths, name, **params)
    if not p.exists():
        raise _missing(paths, name, **params)
    return json.loads(p.read_text())


def instances(paths: Mapping, name: str, **params) -> list[tuple[dict, Path]]:
    """Every stored instance of a templated output whose other parameters are ``params``
    (an archive: one file per origin), sorted by path."""
    out = spec(name)
    folder = Path(paths[out.folder])
    free = [p for p in out.params if p not in params]
    pattern = re.escape(out.file)
    for p in out.params:
        token = re.escape("{" + p + "}")
        value = re.escape(str(params[p])) if p in params else f"(?P<{p}>.+?)"
        pattern = pattern.replace(token, value)
    found = []
    glob = out.file.format(**{p: params.get(p, "*") for p in out.params})
    for f in sorted(folder.glob(glob)):
        m = re.fullmatch(pattern, f.relative_to(folder).as_posix())
        if m:
            found.append(({p: m.group(p) for p in free}, f))
    return found


# --- validation ---------------------------------------------------------------------------


def problems(name: str, frame: pd.DataFrame, limit: int = 5) -> list[str]:
    """What in ``frame`` breaks the output's schema or keys: ``column: rule (examples)``."""
    out = spec(name)
    found: list[str] = []
    if out.schema is not None and len(frame):  # an empty result (nothing measured) passes
        try:
            out.schema().validate(frame, lazy=True)
        except pandera.errors.SchemaErrors as err:
            fc = err.failure_cases
            for (col, check), g in fc.groupby(["column", "check"], dropna=False, sort=False):
                examples = g["failure_case"].astype(str).head(limit).tolist()
                rows = g["index"].dropna().head(limit).tolist()
                found.append(f"{col}: {check} (values {examples}, rows {rows})")
    keys = [k for k in out.keys if k in frame]
    if out.keys and len(keys) == len(out.keys) and len(frame):
        dup = frame.duplicated(keys, keep=False)
        if dup.any():
            example = frame.loc[dup, keys].head(limit).to_dict("records")
            found.append(f"{'+'.join(keys)}: keys not unique ({int(dup.sum())} rows, {example})")
    return found


def _check(name: str, frame: pd.DataFrame, where: Path | str) -> None:
    found = problems(name, frame)
    if found:
        raise OutputSchemaError(
            f"output {name!r} ({where}) breaks its declared schema (src/outputs/schemas.py); "
            "nothing was written:\n  " + "\n  ".join(found)
        )


def validate_stored(paths: Mapping, name: str, **params) -> list[str]:
    """Problems of the stored output (empty: it meets its schema)."""
    return problems(name, read(paths, name, **params))


# --- writing ------------------------------------------------------------------------------


def git_commit() -> str:
    """The code's commit (``-dirty`` with uncommitted changes): with runs and outputs alike."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], capture_output=True, text=True, timeout=10
        )
        return commit + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def stamp(name: str, lineage: Mapping | None) -> dict:
    """The version and lineage stored with an output: a new version id per write, when, the
    code's commit, and what the writer says it was made from (``run_id``, ``feature_sets`` …)."""
    return {
        "output": name,
        "version": uuid.uuid4().hex[:12],
        "written": pd.Timestamp.now("UTC").isoformat(),
        "commit": git_commit(),
        **{k: v for k, v in (lineage or {}).items() if v is not None},
    }


def _table(frame: pd.DataFrame, meta: Mapping) -> pa_arrow.Table:
    table = pa_arrow.Table.from_pandas(frame, preserve_index=False)
    extra = {LINEAGE_KEY: json.dumps(meta, default=str).encode()}
    return table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})


def _replace_file(dest: Path, write: Callable[[Path], None]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, dest)  # readers never see half a file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write(
    paths: Mapping, name: str, frame: pd.DataFrame, lineage: Mapping | None = None, **params
) -> Path:
    """Validate ``frame`` against the output's schema, then replace the stored output atomically
    (and its CSV twin); the version and ``lineage`` go into the Parquet footer."""
    out = spec(name)
    if out.group is not None:
        raise ValueError(f"output {name!r} is written with its group {out.group!r}: write_group")
    dest = path(paths, name, **params)
    _check(name, frame, dest)
    meta = stamp(name, lineage)
    if out.partition_by is not None:
        _replace_folder(dest, frame, out.partition_by, meta)
    else:
        _replace_file(dest, lambda tmp: pq.write_table(_table(frame, meta), tmp))
    if out.csv:
        _replace_file(dest.with_suffix(".csv"), lambda tmp: to_csv(frame, tmp))
    if out.csv_by:
        for value, g in frame.groupby(out.csv_by, sort=True):
            if not SAFE_NAME.fullmatch(str(value)):
                log.warning("%s: no CSV for %s=%r (not a safe file name)", name, out.csv_by, value)
                continue
            _replace_file(dest.parent / f"{value}.csv", lambda tmp, g=g: to_csv(g, tmp))
    return dest


def _replace_folder(dest: Path, frame: pd.DataFrame, by: str, meta: Mapping) -> None:
    """A hive-partitioned folder, written beside the old one and swapped in by renames."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        pq.write_to_dataset(_table(frame, meta), staging / "data", partition_cols=[by])
        old = dest.with_name(f".{dest.name}-old")
        if old.exists():
            shutil.rmtree(old)
        if dest.exists():
            dest.rename(old)
        (staging / "data").rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_group(
    paths: Mapping, group: str, frames: Mapping[str, pd.DataFrame], lineage: Mapping | None = None
) -> dict[str, Path]:
    """The outputs of ``group`` as one table set (one generation, manifest last)."""
    members = {n: o for n, o in OUTPUTS.items() if o.group == group}
    unknown = set(frames) - set(members)
    if unknown:
        raise ValueError(f"{sorted(unknown)} are not outputs of group {group!r}: {sorted(members)}")
    folders = {members[n].folder for n in frames}
    if len(folders) != 1:
        raise ValueError(f"group {group!r} spans folders {folders}")
    target = Path(paths[folders.pop()])
    stems = {}
    for n, frame in frames.items():
        _check(n, frame, target / members[n].file)
        stems[n] = members[n].file.removesuffix(".parquet")
    csv = {f"{stems[n]}.csv": to_csv(f) for n, f in frames.items() if members[n].csv}
    meta = {LINEAGE_KEY: json.dumps(stamp(group, lineage), default=str).encode()}
    write_frames(target, {stems[n]: f for n, f in frames.items()}, extra=csv, metadata=meta)
    return {n: target / members[n].file for n in frames}


def write_json(paths: Mapping, name: str, value, **params) -> Path:
    if spec(name).kind != "json":
        raise ValueError(f"output {name!r} is a table; use write")
    dest = path(paths, name, **params)
    _replace_file(dest, lambda tmp: tmp.write_text(json.dumps(value, indent=1, default=str)))
    return dest


def remove(paths: Mapping, name: str, **params) -> None:
    """Drop a stored output that no longer applies (a reconciled champion's levels after a
    plain one replaced it: a stale file would mislead)."""
    p = path(paths, name, **params)
    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()


def lineage(paths: Mapping, name: str, **params) -> dict:
    """The version and lineage stored with an output (empty for a file written elsewhere)."""
    p = path(paths, name, **params)
    if not p.exists():
        raise _missing(paths, name, **params)
    files = sorted(p.rglob("*.parquet")) if p.is_dir() else [p]
    meta = pq.read_schema(files[0]).metadata or {} if files else {}
    raw = meta.get(LINEAGE_KEY)
    return json.loads(raw) if raw else {}


def check_all(paths: Mapping, params: Mapping[str, str]) -> dict[str, list[str]]:
    """Every stored table output's problems against its schema (absent outputs skipped):
    what ``python -m src.outputs`` reports after ``make run``."""
    report = {}
    for name, out in OUTPUTS.items():
        if out.folder is None or out.kind != "table":
            continue
        fixed = {p: params[p] for p in out.params if p in params}
        if len(fixed) == len(out.params):
            stored = [(fixed, path(paths, name, **fixed))] if exists(paths, name, **fixed) else []
        else:
            stored = [({**fixed, **free}, f) for free, f in instances(paths, name, **fixed)]
        for values, f in stored:
            report[str(f)] = validate_stored(paths, name, **values)
    return report
