"""Human-readable summaries of an ingest (and features) run for the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def _rows(pairs: list[tuple[str, str]]) -> list[str]:
    width = max(len(k) for k, _ in pairs)
    return [f"  {k:<{width}}  {v}" for k, v in pairs]


def format_ingest_summary(report: Mapping, output: Path | str | None = None) -> str:
    s = report["summary"]
    lines = ["", "=== retail-brain ingest summary ==="]
    pairs = [
        ("lines", f"{s['lines']:,}"),
        ("orders", f"{s['orders']:,}"),
        ("customers", f"{s['customers']:,}"),
        ("SKUs", f"{s['skus']:,} ({report['products']['non_merchandise']:,} non-merchandise)"),
        ("locations", f"{report['locations']:,}"),
        ("date range", f"{s['date_from']} .. {s['date_to']}"),
        ("line types", ", ".join(f"{k} {v:,}" for k, v in s["lines_by_type"].items())),
        ("returns linked", f"{s['returns_linked']:,} to their sale"),
        ("anonymous lines", f"{s['anonymous_lines']:,}"),
        ("inventory rows", f"{report['inventory_rows']:,}"),
    ]
    lines += _rows(pairs)
    ident = report.get("identity")
    if ident:
        rules = ", ".join(f"{k} {v:,}" for k, v in ident["merges_by_rule"].items()) or "none"
        lines += ["", "One-ID:"] + _rows(
            [
                ("source ids", f"{ident['source_ids']:,} -> {ident['customers']:,} customers"),
                (
                    "merged",
                    f"{ident['merged_customers']:,} customers from {ident['source_ids_merged']:,} ids",
                ),
                ("merges by rule", rules),
            ]
        )
    lines += ["", "files (rows in = kept + rejected):"]
    lines += _rows(
        [
            (Path(f).name, f"{v['rows_in']:,} = {v['rows_kept']:,} + {v['rows_rejected']:,}")
            for f, v in report["files"].items()
        ]
    )
    by_rule = report.get("rejects_by_rule") or {}
    lines += ["", "rejects by reason:" if by_rule else "rejects: none"]
    if by_rule:
        lines += _rows([(rule, f"{v['rows']:,}") for rule, v in by_rule.items()])
    if output is not None:
        lines += ["", f"written to {output}/ (tables *.parquet, rejects.csv, ingest_report.json)"]
    return "\n".join(lines)


def format_features_summary(built, root: Path | str) -> str:
    """One line per table of every feature set built: rows, partitions, version."""
    lines = ["", "=== features ==="]
    pairs = []
    for fs in built:
        for table in fs.tables:
            parts = len(fs.partitions(table))
            pairs.append((f"{fs.name}/{table}", f"{fs.rows(table):,} rows in {parts} partition(s)"))
    lines += _rows(pairs)
    lines += ["", f"written to {root}/<set>/<version>/ (manifest.json beside the tables)"]
    return "\n".join(lines)
