"""Curator logins: a users file of `name:pbkdf2_sha256$iterations$salt$hash` lines.

`gallery users add NAME` writes one (the password is asked, never taken from the command line).
When the app is started with a users file, the page and every API route require a login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from pathlib import Path

from gallery.core.errors import ConfigError

ITERATIONS = 600_000
NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


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


def read_users(path: Path) -> dict[str, str]:
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
        name, _, stored = line.partition(":")
        if not NAME.match(name) or not stored.startswith("pbkdf2_sha256$"):
            raise ConfigError(f"users file {path} line {number} is not `name:pbkdf2_sha256$...`")
        users[name] = stored
    if not users:
        raise ConfigError(f"users file {path} names no user; add one with `gallery users add NAME`")
    return users


def add_user(path: Path, name: str, password: str) -> None:
    if not NAME.match(name):
        raise ConfigError(f"user name {name!r}: use letters, digits and . _ @ - (at most 64)")
    if len(password) < 8:
        raise ConfigError("the password must have at least 8 characters")
    path = Path(path)
    users = read_users(path) if path.exists() and path.read_text().strip() else {}
    users[name] = hash_password(password)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text("".join(f"{n}:{h}\n" for n, h in users.items()), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)


class Authenticator:
    """The callable Gradio asks for each login. A name with too many recent failures is refused
    without checking its password until its delay has passed (see ui.security.LoginThrottle)."""

    def __init__(self, users: dict[str, str], throttle=None):
        from ui.security import LoginThrottle

        self.users = users
        self.throttle = throttle or LoginThrottle()

    def __call__(self, name: str, password: str) -> bool:
        if self.throttle.wait_s(name) > 0:
            return False
        stored = self.users.get(name)
        ok = stored is not None and verify_password(password, stored)
        (self.throttle.succeeded if ok else self.throttle.failed)(name)
        return ok
