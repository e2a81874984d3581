"""Write a benchmark's table into docs/BENCHMARKS.md between its own markers."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"


def write_section(key: str, text: str, heading: str, doc: Path = DOC) -> None:
    """Replace what stands between ``<!-- key:start -->`` and ``<!-- key:end -->`` (appending a
    ``heading`` and the markers if the document has none yet)."""
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    current = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if start not in current:
        current += f"\n{heading}\n\n{start}\n{end}\n"
    head, rest = current.split(start, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{start}\n{text}\n{end}{tail}")
