"""Console users: hashed entries, roles and permissions, clear errors for bad user files."""

from __future__ import annotations

import pytest

from src.console import auth


def test_users_from_environment_and_file(tmp_path):
    f = tmp_path / "users.txt"
    f.write_text("# planners\n" + auth.entry("pat", "planner", "pat-password-1") + "\n")
    env = {
        auth.ENV_USERS_FILE: str(f),
        auth.ENV_USERS: auth.entry("vic", "viewer", "vic-password-1"),
    }
    users = auth.load_users(env)
    assert set(users) == {"pat", "vic"}
    assert "pat-password-1" not in f.read_text()  # only the hash is stored
    assert auth.authenticate(users, "pat", "pat-password-1").role == "planner"
    assert auth.authenticate(users, "pat", "wrong") is None
    assert auth.authenticate(users, "nobody", "pat-password-1") is None
    assert users["pat"].can("export_plan") and users["pat"].can("acknowledge")
    assert not users["pat"].can("export_audience")
    assert not users["vic"].can("acknowledge") and not users["vic"].can("export_plan")


def test_bad_user_files_are_refused_with_the_line():
    with pytest.raises(auth.NoUsers, match="no console users"):
        auth.load_users({})
    with pytest.raises(auth.NoUsers, match="entry 1 is not name:role:hash"):
        auth.parse(["just-a-name"], "users.txt")
    with pytest.raises(auth.NoUsers, match="entry 2 \\(bob\\) has role 'boss'"):
        auth.parse([auth.entry("ann", "admin", "x" * 10), "bob:boss:hash"], "users.txt")
    with pytest.raises(ValueError, match="may not be empty or contain"):
        auth.entry("a:b", "viewer", "x" * 10)


def test_first_start_creates_an_admin_once_and_logs_no_password(tmp_path, monkeypatch, caplog):
    from src.console.launch import bootstrap_users

    monkeypatch.delenv(auth.ENV_USERS, raising=False)
    monkeypatch.delenv(auth.ENV_USERS_FILE, raising=False)
    caplog.set_level("INFO")
    bootstrap_users(tmp_path / ".console")
    password = (tmp_path / ".console" / "admin_password").read_text().strip()
    assert (tmp_path / ".console" / "users.txt").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / ".console" / "admin_password").stat().st_mode & 0o777 == 0o600
    users = auth.load_users()
    assert auth.authenticate(users, "admin", password).role == "admin"
    assert password not in caplog.text
    monkeypatch.delenv(auth.ENV_USERS_FILE)
    bootstrap_users(tmp_path / ".console")  # the second start keeps the user and password
    assert (tmp_path / ".console" / "admin_password").read_text().strip() == password
