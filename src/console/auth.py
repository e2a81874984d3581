"""Console users: names, roles and salted password hashes from a file or the environment.

* ``RETAIL_BRAIN_CONSOLE_USERS_FILE`` names a file with one user per line,
  ``name:role:hash`` (``#`` comments allowed), or
* ``RETAIL_BRAIN_CONSOLE_USERS`` holds the same entries separated by commas.

Hashes are Werkzeug's (scrypt by default); plain passwords are never stored, compared or logged.
``python -m src.console.auth add NAME ROLE --file users.txt`` asks for a password and appends the
line. Roles: ``viewer`` (read), ``planner`` (+ acknowledge alerts, export plans), ``marketer``
(+ acknowledge alerts, export audiences), ``admin`` (everything).
"""

from __future__ import annotations

import argparse
import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

ENV_USERS = "RETAIL_BRAIN_CONSOLE_USERS"
ENV_USERS_FILE = "RETAIL_BRAIN_CONSOLE_USERS_FILE"
ROLES = ("viewer", "planner", "marketer", "admin")
PERMISSIONS = {
    "viewer": frozenset(),
    "planner": frozenset({"acknowledge", "export_plan"}),
    "marketer": frozenset({"acknowledge", "export_audience"}),
    "admin": frozenset({"acknowledge", "export_plan", "export_audience"}),
}
# a hash to check against when the user does not exist, so a wrong name costs the same time
_DUMMY = generate_password_hash("not-a-user-password")


class NoUsers(ValueError):
    pass


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS[self.role]


def parse(lines: list[str], where: str) -> dict[str, User]:
    users = {}
    for i, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, rest = line.partition(":")
        role, sep2, hashed = rest.partition(":")
        if not (sep and sep2 and name and hashed):
            raise NoUsers(f"{where}: entry {i} is not name:role:hash")
        if role not in ROLES:
            raise NoUsers(f"{where}: entry {i} ({name}) has role {role!r}; roles are {ROLES}")
        users[name] = User(name, role, hashed)
    return users


def load_users(environ: dict | None = None) -> dict[str, User]:
    env = os.environ if environ is None else environ
    users = {}
    path = env.get(ENV_USERS_FILE)
    if path:
        users.update(parse(Path(path).read_text().splitlines(), path))
    if env.get(ENV_USERS):
        users.update(parse(env[ENV_USERS].split(","), ENV_USERS))
    if not users:
        raise NoUsers(
            f"no console users: set {ENV_USERS_FILE} (a file of name:role:hash lines) or "
            f"{ENV_USERS}; create entries with `python -m src.console.auth add NAME ROLE`"
        )
    return users


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    user = users.get(name)
    ok = check_password_hash(user.password_hash if user else _DUMMY, password or "")
    return user if (user and ok) else None


def entry(name: str, role: str, password: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role {role!r}; roles are {ROLES}")
    if ":" in name or "," in name or not name:
        raise ValueError("a user name may not be empty or contain ':' or ','")
    return f"{name}:{role}:{generate_password_hash(password)}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="add a console user")
    sub = p.add_subparsers(dest="cmd", required=True)
    add = sub.add_parser("add")
    add.add_argument("name")
    add.add_argument("role", choices=ROLES)
    add.add_argument("--file", default=os.environ.get(ENV_USERS_FILE, "console_users.txt"))
    args = p.parse_args(argv)
    password = getpass.getpass(f"password for {args.name}: ")
    if len(password) < 10:
        raise SystemExit("use at least 10 characters")
    path = Path(args.file)
    with path.open("a") as fh:
        fh.write(entry(args.name, args.role, password) + "\n")
    path.chmod(0o600)
    print(f"added {args.name} ({args.role}) to {path}")


if __name__ == "__main__":
    main()
