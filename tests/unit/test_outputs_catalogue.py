"""The outputs catalogue: one declaration per stage output, validated atomic writes with their
version and lineage, reads by name, the one series-id encoding — and no module outside
``src/outputs`` spelling an output's file name."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src import outputs
from src.outputs import ids
from src.outputs.catalogue import OUTPUTS, problems
from src.outputs.files import TABLESET, generation_of

REPO = Path(__file__).resolve().parents[2]


def _paths(tmp: Path) -> dict:
    return outputs.standard_paths(tmp)


def _forecast(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": [f"S{i}@L1" for i in range(n)],
            "ds": pd.Timestamp("2024-01-01").as_unit("ns"),
            "y_hat": np.arange(n, dtype=float),
            "q0.1": np.zeros(n),
            "q0.9": np.arange(n, dtype=float) * 2,
        }
    )


def _file_names() -> set[str]:
    """The literal file names of every declared output; a template's fixed part where it has
    one (``{registered}_levels.parquet`` -> ``_levels.parquet``)."""
    names = set()
    for out in OUTPUTS.values():
        base = out.file.rsplit("/", 1)[-1]
        literal = re.sub(r"\{[^}]*\}", "", base)
        stem = literal.split(".")[0].strip("_")
        if "." in literal and stem:  # not a folder ("kpis") nor a bare "{as_of}.parquet"
            names.add(literal)
    return names


def test_no_module_outside_the_catalogue_spells_an_output_file_name():
    names = _file_names()
    assert {"suggestions.parquet", "recommendations.parquet", "_levels.parquet"} <= names
    whole = [re.escape(n) for n in sorted(names) if not n.startswith("_")]
    parts = [re.escape(n) for n in sorted(names) if n.startswith("_")]
    quoted = "[\"'/](" + "|".join(whole) + ")|(" + "|".join(parts) + ")"
    pattern = re.compile("(" + quoted + ")[\"']")
    offenders = []
    for folder in ("src", "pipelines", "serving", "benchmarks"):
        for py in (REPO / folder).rglob("*.py"):
            if py.relative_to(REPO).parts[:2] == ("src", "outputs"):
                continue
            for n, line in enumerate(py.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{py.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, "ask src.outputs for these by name:\n" + "\n".join(offenders)


def test_every_output_is_declared_once_with_what_makes_it():
    for name, out in OUTPUTS.items():
        assert out.name == name and out.made_by.startswith("make "), name
        assert out.kind in {"table", "json", "folder"}, name
        if out.group is not None:
            assert out.kind == "table" and out.partition_by is None, name
    files = [(o.folder, o.file) for o in OUTPUTS.values()]
    assert len(files) == len(set(files)), "two outputs share a file"


def test_write_read_round_trip_with_version_and_lineage(tmp_path):
    paths = _paths(tmp_path)
    fc = _forecast()
    p = outputs.write(paths, "forecast", fc, {"run_id": "abc", "features": "f1"}, registered="m")
    assert p == tmp_path / "forecasts" / "m.parquet"
    back = outputs.read(paths, "forecast", registered="m")
    pd.testing.assert_frame_equal(back, fc, check_dtype=False)
    first = outputs.lineage(paths, "forecast", registered="m")
    assert first["run_id"] == "abc" and first["features"] == "f1" and first["output"] == "forecast"
    outputs.write(paths, "forecast", fc, {"run_id": "def"}, registered="m")
    second = outputs.lineage(paths, "forecast", registered="m")
    assert second["version"] != first["version"] and second["run_id"] == "def"
    assert not list(p.parent.glob(".*.tmp")), "a temporary file was left behind"


def test_a_frame_breaking_the_schema_is_refused_and_the_stored_output_kept(tmp_path):
    paths = _paths(tmp_path)
    outputs.write(paths, "forecast", _forecast(), registered="m")
    before = outputs.path(paths, "forecast", registered="m").read_bytes()
    bad = _forecast().assign(y_hat=[1.0, np.inf, 2.0])
    with pytest.raises(outputs.OutputSchemaError, match=r"y_hat.*not_finite.*inf"):
        outputs.write(paths, "forecast", bad, registered="m")
    dup = pd.concat([_forecast(), _forecast()], ignore_index=True)
    with pytest.raises(outputs.OutputSchemaError, match="keys not unique"):
        outputs.write(paths, "forecast", dup, registered="m")
    missing = _forecast().drop(columns="y_hat")
    with pytest.raises(outputs.OutputSchemaError, match="y_hat"):
        outputs.write(paths, "forecast", missing, registered="m")
    assert outputs.path(paths, "forecast", registered="m").read_bytes() == before


def test_schema_rules_catch_what_consumers_rely_on():
    recs = pd.DataFrame({"customer_id": ["c", "c"], "sku": ["a", "b"], "rank": [1, 0]})
    assert any("rank" in p for p in problems("recommendations", recs))
    sugg = pd.DataFrame({"location_id": ["L"], "sku": ["a"], "on_hand": [1.0],
                         "safety_stock": [0.0], "reorder_point": [1.0], "order_up_to": [2.0],
                         "order_qty": [-1.0], "days_of_cover": [3.0]})  # fmt: skip
    assert any("order_qty" in p and "negative" in p for p in problems("suggestions", sugg))
    assert problems("suggestions", sugg.assign(order_qty=1.0)) == []
    # nothing measured: an empty result passes whatever its columns
    assert problems("campaign_results", pd.DataFrame()) == []


def test_missing_output_says_what_to_run(tmp_path):
    with pytest.raises(outputs.OutputMissing, match="make train-recsys"):
        outputs.read(_paths(tmp_path), "recommendations")
    assert outputs.read_if_exists(_paths(tmp_path), "recommendations") is None


def test_group_is_one_table_set_with_csv_twins(tmp_path):
    paths = _paths(tmp_path)
    sugg = pd.DataFrame({"location_id": ["L"], "sku": ["=cmd"], "on_hand": [1.0],
                         "safety_stock": [0.0], "reorder_point": [1.0], "order_up_to": [2.0],
                         "order_qty": [1.0], "days_of_cover": [3.0]})  # fmt: skip
    transfers = pd.DataFrame({"sku": ["a"], "from_location": ["L"], "to_location": ["M"],
                              "qty": [2.0]})  # fmt: skip
    written = outputs.write_group(paths, "plan", {"suggestions": sugg, "transfers": transfers},
                                  {"run_id": "r"})  # fmt: skip
    gens = {generation_of(p) for p in written.values()}
    assert len(gens) == 1 and (tmp_path / "plans" / TABLESET).exists()
    assert outputs.lineage(paths, "suggestions")["run_id"] == "r"
    assert "'=cmd" in outputs.csv_path(paths, "suggestions").read_text()  # formula escaped
    with pytest.raises(ValueError, match="write_group"):
        outputs.write(paths, "suggestions", sugg)
    with pytest.raises(ValueError, match="not outputs of group"):
        outputs.write_group(paths, "plan", {"clv": sugg})


def test_instances_of_an_archive_and_csv_per_audience(tmp_path):
    paths = _paths(tmp_path)
    for origin in ("20240101", "20240108"):
        outputs.write(paths, "forecast_archive", _forecast(), registered="forecast_sku_D",
                      origin=origin)  # fmt: skip
    outputs.write(paths, "forecast_archive", _forecast(), registered="other", origin="20240101")
    found = outputs.instances(paths, "forecast_archive", registered="forecast_sku_D")
    assert [p for p, _ in found] == [{"origin": "20240101"}, {"origin": "20240108"}]
    aud = pd.DataFrame({"audience": ["vip", "vip", "../x"], "customer_id": ["a", "b", "c"],
                        "group": ["treated", "holdout", "treated"],
                        "as_of": pd.Timestamp("2024-01-01")})  # fmt: skip
    folder = outputs.write(paths, "audiences", aud).parent
    assert (folder / "vip.csv").exists() and not list(tmp_path.rglob("x.csv"))


def test_partitioned_kpis_and_json(tmp_path):
    paths = _paths(tmp_path)
    kpis = pd.DataFrame({"kpi": ["net_sales"] * 2, "grain": ["day", "week"],
                         "dimension": ["total"] * 2, "member": ["all"] * 2,
                         "period": pd.to_datetime(["2024-01-01", "2024-01-01"]),
                         "value": [1.0, 7.0]})  # fmt: skip
    p = outputs.write(paths, "kpis", kpis)
    assert sorted(x.name for x in p.iterdir()) == ["grain=day", "grain=week"]
    back = outputs.read(paths, "kpis")
    assert sorted(back["value"]) == [1.0, 7.0]
    assert outputs.lineage(paths, "kpis")["output"] == "kpis"
    outputs.write_json(paths, "kpi_bands", {"forecast_wape": [None, 0.4]})
    assert outputs.read_json(paths, "kpi_bands") == {"forecast_wape": [None, 0.4]}
    assert outputs.check_all(paths, {}) == {str(p): []}


def test_series_ids_round_trip_even_with_the_separator_inside_a_sku():
    frame = pd.DataFrame({"sku": ["A", "B@2", "C"], "location_id": ["L1", "L2", "web"]})
    uid = ids.series_id(frame, ["sku", "location_id"])
    assert uid.tolist() == ["A@L1", "B@2@L2", "C@web"]
    sku, loc = ids.split_series_id(uid, 2)
    assert sku.tolist() == frame["sku"].tolist() and loc.tolist() == frame["location_id"].tolist()
    assert ids.first_key(pd.Series(["A", "A@L1"])).tolist() == ["A", "A"]
    assert ids.join_id("A", "L1") == "A@L1"
