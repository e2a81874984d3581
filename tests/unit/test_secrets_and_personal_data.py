"""Issue 17 items 4 and 5: the identity salt never reaches a config, a run or a log; raw emails
and phones never reach a file, a report, an error or a log — checked with canary values."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from src.features.identity import SaltError, identity_salt
from src.tracking.runs import log_context, redact_secrets
from tests.helpers import SYNTHETIC, compose, run_module, tmp_paths

CANARY_SALT = "canary-salt-7f3a9c"
CANARY_EMAIL = "canary.person+x@leak-check.example"
CANARY_PHONE = "+44 7700 900461"


def every_text(root: Path) -> str:
    """The bytes of every file under ``root`` (databases, Parquet, logs, artifacts) as text."""
    return "\n".join(p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file())


# --- 4. the salt -------------------------------------------------------------------------------


def test_no_config_holds_the_salt():
    for name in ("ingest", "run", "train_forecast", "plan_inventory"):
        cfg = compose(name)
        assert "salt" not in str(cfg).lower(), name


def test_a_tracked_run_never_logs_the_salt(tmp_path, monkeypatch):
    from pipelines import ingest, train_recsys

    monkeypatch.setenv("RETAIL_BRAIN_ID_SALT", CANARY_SALT)
    paths = tmp_paths(tmp_path)
    ingest.run(compose("ingest", [*SYNTHETIC, *paths]))
    train_recsys.run(compose("train_recsys", [*paths, "recsys.train=[popularity]", "recsys.k=5"]))
    assert any((tmp_path / "mlruns").rglob("*")), "nothing was tracked"
    assert CANARY_SALT not in every_text(tmp_path)


def test_secret_looking_keys_are_redacted_before_logging(tmp_path):
    cfg = {
        "ingest": {"identity_salt": CANARY_SALT, "ok": 1},
        "x": [{"api_key": "canary-api-key-55e1"}],
    }
    assert redact_secrets(cfg) == {
        "ingest": {"identity_salt": "<redacted>", "ok": 1},
        "x": [{"api_key": "<redacted>"}],
    }
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/m.db")
    exp = mlflow.create_experiment("t", artifact_location=(tmp_path / "a").as_uri())
    with mlflow.start_run(experiment_id=exp):
        log_context(cfg, None)
    mlflow.set_tracking_uri("")
    assert CANARY_SALT not in every_text(tmp_path) and "canary-api-key-55e1" not in every_text(
        tmp_path
    )


def test_the_salt_comes_from_the_environment_or_a_private_file_made_once(tmp_path):
    assert identity_salt({"RETAIL_BRAIN_ID_SALT": "s1"}) == "s1"
    env = {"RETAIL_BRAIN_ID_SALT": "", "RETAIL_BRAIN_ID_SALT_FILE": str(tmp_path / "salt")}
    first = identity_salt(env)
    assert len(first) >= 32 and identity_salt(env) == first  # kept, not regenerated
    assert stat.S_IMODE(os.stat(tmp_path / "salt").st_mode) == 0o600
    (tmp_path / "salt").write_text("")
    with pytest.raises(SaltError, match="empty"):
        identity_salt(env)


# --- 5. personal data in rejects, reports, errors and logs -------------------------------------


def test_an_ingest_writes_and_logs_no_raw_email_or_phone(tmp_path):
    rows = pd.DataFrame(
        {
            "Order": ["o1", "o2", "o3", "o4"],
            "Customer": ["c1", "c2", "c3", "c4"],
            "Item": ["A", "B", "A", "B"],
            "When": ["2024-01-02", "not a date", "2024-01-03", "2024-01-04"],
            "Units": ["1", "2", "0", "1"],  # row 2: zero quantity
            "Price": ["2.5", "3", "3", "-1"],  # row 3: negative price
            "Email": [CANARY_EMAIL] * 4,
            "Phone": [CANARY_PHONE] * 4,
        }
    )
    good = tmp_path / "export.csv"
    rows.to_csv(good, index=False)
    mapping = [
        "data=generic",
        "data.columns.order_id=Order",
        "data.columns.customer_id=Customer",
        "data.columns.sku=Item",
        "data.columns.ts=When",
        "data.columns.qty=Units",
        "data.columns.unit_price=Price",
        "data.columns.email=Email",
        "data.columns.phone=Phone",
        "ingest.max_reject_fraction=0.9",
        *tmp_paths(tmp_path / "run"),
    ]
    ok = run_module("pipelines.ingest", [f"data.path={good}", *mapping])
    assert ok.returncode == 0, ok.stderr[-2000:]
    rejects = pd.read_csv(tmp_path / "run" / "tables" / "rejects.csv")
    assert len(rejects) == 3 and (rejects["raw_Email"] == "<redacted>").all()
    # a file that is mostly bad stops with example rows: in the console and the Hydra log
    rows["When"] = "not a date"
    bad = tmp_path / "bad.csv"
    rows.to_csv(bad, index=False)
    stopped = run_module("pipelines.ingest", [f"data.path={bad}", *mapping])
    assert stopped.returncode == 2 and "example rows" in stopped.stderr + stopped.stdout
    text = every_text(tmp_path / "run") + stopped.stdout + stopped.stderr + ok.stdout + ok.stderr
    for canary in (CANARY_EMAIL, CANARY_PHONE, "leak-check", "7700 900461"):
        assert canary not in text, canary
