"""Issue 17 item 7: ids that are spreadsheet formulas reach planners' CSVs as text, not formulas."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from src.features import columns as C
from src.features.adapters import generic
from src.features.ingest import IngestOptions, write_ingest
from src.outputs.csv import escape_formulas

EVIL = ['=HYPERLINK("http://x.example","click")', "@SUM(1+1)", "+1-1", "-2+3", "\tTAB"]


def test_formula_prefixes_are_escaped_and_numbers_kept():
    df = pd.DataFrame({"sku": [*EVIL, "plain"], "qty": [-1.0, 2, 3, 4, 5, 6]})
    out = escape_formulas(df)
    assert out["sku"].tolist() == [f"'{v}" for v in EVIL] + ["plain"]
    assert out["qty"].tolist() == df["qty"].tolist()  # negative numbers are numbers
    assert df["sku"].iat[0] == EVIL[0]  # the input is not changed


def test_rejects_csv_escapes_formulas_and_parquet_stays_exact(tmp_path):
    skus = EVIL + ["A", "B"]
    path = tmp_path / "export.csv"
    pd.DataFrame(
        {
            "Order": [f"o{i}" for i in range(len(skus))],
            "Item": skus,
            "When": [f"2024-01-0{i + 1}" for i in range(len(skus))],
            "Units": 1,
            "Price": [-1] * 5 + [2, 2],  # the evil ones are rejected (negative price)
        }
    ).to_csv(path, index=False)
    columns = {
        "order_id": "Order",
        "sku": "Item",
        "ts": "When",
        "qty": "Units",
        "unit_price": "Price",
    }
    result = generic.load(path, columns, options=IngestOptions(max_reject_fraction=0.9))
    out = write_ingest(result, tmp_path / "out")
    text = (out / "rejects.csv").read_text()
    for line in text.splitlines()[1:]:
        for cell in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', line):
            assert not cell.strip('"').startswith(("=", "+", "@", "\t")), line
    assert "'=HYPERLINK" in text
    kept = pd.read_parquet(out / "products.parquet")[C.SKU].tolist()
    assert sorted(kept) == ["A", "B"]


def test_every_csv_the_project_writes_goes_through_the_escaping_writer():
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for folder in ("src", "pipelines", "serving"):
        for py in (root / folder).rglob("*.py"):
            if py.relative_to(root).as_posix() == "src/outputs/csv.py":
                continue
            for n, line in enumerate(py.read_text().splitlines(), 1):
                if ".to_csv(" in line:
                    offenders.append(f"{py.relative_to(root)}:{n}")
    assert not offenders, f"write CSVs with src.outputs.csv.to_csv: {offenders}"
