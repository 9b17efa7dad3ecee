"""Logins: a users file of `name:role:pbkdf2_sha256$iterations$salt$hash` lines.

`gallery users add NAME --role ROLE` writes one (the password is asked, never taken from the
command line). When the app is started with a users file, the page and every API route require a
login, and the role says what the login may do (`ROLES`):
- `viewer`: search, compare, open dossiers, write reports and enquiry answers; no decision;
- `curator`: every decision on the page (identifications, suggestions, clusters, replicas, sitters);
- `admin`: what a curator may, and is the role for the people who run users, backup, restore and
  settings, which are `gallery` commands on the server and never page routes.
A line without a role (`name:pbkdf2_sha256$…`, written before roles) is a curator, as it was.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from pathlib import Path

from gallery.core.errors import ConfigError

ITERATIONS = 600_000
NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
ROLES = ("viewer", "curator", "admin")
DECIDING_ROLES = ("curator", "admin")
LEGACY_ROLE = "curator"  # a users file line written before roles


@dataclass(frozen=True)
class User:
    role: str
    stored: str  # the password hash


def _role(role: str) -> str:
    if role not in ROLES:
        raise ConfigError(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def read_users(path: Path) -> dict[str, User]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"users file {path} does not exist; create it with `gallery users add NAME`") from None
    users = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(":")
        role, _, stored = rest.partition(":") if not rest.startswith("pbkdf2_sha256$") else (LEGACY_ROLE, "", rest)
        if not NAME.match(name) or not stored.startswith("pbkdf2_sha256$"):
            raise ConfigError(f"users file {path} line {number} is not `name:role:pbkdf2_sha256$...`")
        try:
            users[name] = User(_role(role), stored)
        except ConfigError as err:
            raise ConfigError(f"users file {path} line {number}: {err}") from None
    if not users:
        raise ConfigError(f"users file {path} names no user; add one with `gallery users add NAME`")
    return users


def add_user(path: Path, name: str, password: str | None, role: str | None = None) -> User:
    """Add `name`, or change its password (given) and/or role (given); a new user needs both a
    password and, unless given, gets the role curator."""
    if not NAME.match(name):
        raise ConfigError(f"user name {name!r}: use letters, digits and . _ @ - (at most 64)")
    if role is not None:
        _role(role)
    if password is not None and len(password) < 8:
        raise ConfigError("the password must have at least 8 characters")
    path = Path(path)
    users = read_users(path) if path.exists() and path.read_text().strip() else {}
    old = users.get(name)
    if old is None and password is None:
        raise ConfigError(f"user {name} is not in {path}; a new user needs a password")
    users[name] = User(role or (old.role if old else LEGACY_ROLE),
                       hash_password(password) if password is not None else old.stored)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text("".join(f"{n}:{u.role}:{u.stored}\n" for n, u in users.items()), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return users[name]


class Authenticator:
    """The callable Gradio asks for each login. A name with too many recent failures is refused
    without checking its password until its delay has passed (see ui.security.LoginThrottle)."""

    def __init__(self, users: dict[str, User], throttle=None):
        from ui.security import LoginThrottle

        self.users = users
        self.throttle = throttle or LoginThrottle()

    def __call__(self, name: str, password: str) -> bool:
        if self.throttle.wait_s(name) > 0:
            return False
        user = self.users.get(name)
        ok = user is not None and verify_password(password, user.stored)
        (self.throttle.succeeded if ok else self.throttle.failed)(name)
        return ok

    def roles(self) -> dict[str, str]:
        return {name: user.role for name, user in self.users.items()}
