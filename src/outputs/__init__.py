"""Stage outputs: declared once (:mod:`src.outputs.catalogue`), written atomically with their
version and lineage, read by name; the one series-id encoding (:mod:`src.outputs.ids`); the
atomic table-set writer the canonical tables use too (:mod:`src.outputs.files`)."""

from src.outputs.catalogue import (
    OUTPUTS,
    Output,
    OutputMissing,
    OutputSchemaError,
    artifact_path,
    check_all,
    csv_path,
    exists,
    file_name,
    instances,
    lineage,
    path,
    read,
    read_if_exists,
    read_json,
    remove,
    standard_paths,
    write,
    write_group,
    write_json,
)

__all__ = [
    "OUTPUTS",
    "Output",
    "OutputMissing",
    "OutputSchemaError",
    "artifact_path",
    "check_all",
    "csv_path",
    "exists",
    "file_name",
    "instances",
    "lineage",
    "path",
    "read",
    "read_if_exists",
    "read_json",
    "remove",
    "standard_paths",
    "write",
    "write_group",
    "write_json",
]
