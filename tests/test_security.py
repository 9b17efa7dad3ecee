"""The page with logins on: every route the app exposes (enumerated from its own router) refuses
without a session except the login page's own assets; file routes never read outside gradio's
cache; failed logins are throttled; cookies are HttpOnly and SameSite; the users file is 0600;
uploads over the cap are refused with a message and the server stays up."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import requests

from tests.test_ui import _free_port
from tests.waiting import GENEROUS_S
from ui.security import PUBLIC_PATHS, PUBLIC_PREFIXES, LoginThrottle

pytestmark = pytest.mark.slow
PASSWORD = "correct horse"


def _serve(settings, folder: Path):
    from gallery.config.settings import with_overrides
    from ui.auth import add_user
    from ui.server import launch

    users = folder / "users.txt"
    add_user(users, "anna", PASSWORD)
    port = _free_port()
    demo = launch(with_overrides(settings, max_upload_bytes=200_000), port=port, auth_file=users, block=False)
    return demo, f"http://127.0.0.1:{port}", users


@pytest.fixture(scope="module")
def guarded(indexed, tmp_path_factory):
    demo, base, users = _serve(indexed[0], tmp_path_factory.mktemp("users"))
    yield demo, base, users
    demo.close()


def _routes(routes):
    """(path, methods) of every route, descending into included routers and mounts."""
    for route in routes:
        if hasattr(route, "effective_candidates"):
            yield from _routes([*route.effective_candidates(), *route.effective_low_priority_routes()])
        elif getattr(route, "routes", None):
            prefix = getattr(route, "path", "")
            yield from ((prefix + path, methods) for path, methods in _routes(route.routes))
        elif getattr(route, "path", None):
            yield route.path, sorted(getattr(route, "methods", None) or {"WEBSOCKET"})


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def _login(base: str, password: str = PASSWORD) -> requests.Response:
    return requests.post(f"{base}/login", data={"username": "anna", "password": password}, timeout=GENEROUS_S)


def test_every_route_refuses_without_a_session(guarded):
    demo, base, _users = guarded
    routes = sorted(set((p, tuple(m)) for p, m in _routes(demo.app.routes)))
    assert len(routes) > 40  # really the router's routes, gradio's API among them
    checked = 0
    for path, methods in routes:
        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        for method in methods:
            if method == "WEBSOCKET" or public:
                continue
            answer = requests.request(method, base + _concrete(path), timeout=GENEROUS_S)
            assert answer.status_code == 401, (method, path, answer.status_code, answer.text[:200])
            checked += 1
    assert checked > 30
    for path in ("/openapi.json", "/gradio_api/runs", "/gradio_api/upload", "/gradio_api/queue/join",
                 "/gradio_api/info", "/config"):
        assert requests.post(base + path, timeout=GENEROUS_S).status_code == 401, path
    # with a session the same routes answer
    session = requests.Session()
    session.cookies.update(_login(base).cookies)
    assert session.get(f"{base}/gradio_api/info", timeout=GENEROUS_S).status_code == 200


def test_file_routes_stay_inside_the_cache(guarded, indexed, tmp_path):
    demo, base, users = guarded
    session = requests.Session()
    session.cookies.update(_login(base).cookies)
    cache = Path(demo.GRADIO_CACHE)
    cache.mkdir(parents=True, exist_ok=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the page")
    link = cache / "innocent.txt"
    link.unlink(missing_ok=True)
    link.symlink_to(secret)
    try:
        held_out = indexed[2][0]
        for target in ("/etc/passwd", str(held_out), str(users), f"{cache}/../../../../etc/passwd",
                       f"{cache}/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "..%2f..%2f..%2fetc%2fpasswd", str(link),
                       f"{cache}/..%2f..%2f..%2f..%2fetc%2fpasswd"):
            for route in ("gradio_api/file=", "gradio_api/file/"):
                answer = session.get(f"{base}/{route}{target}", timeout=GENEROUS_S)
                assert answer.status_code in (400, 403, 404), (route, target, answer.status_code)
                assert "not for the page" not in answer.text and "root:" not in answer.text
    finally:
        link.unlink(missing_ok=True)


def test_cookies_are_httponly_and_samesite(guarded):
    _demo, base, _users = guarded
    answer = _login(base)
    assert answer.status_code == 200
    cookies = answer.raw.headers.getlist("set-cookie")
    assert len(cookies) == 2
    for cookie in cookies:
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie


def test_failed_logins_are_throttled(indexed, tmp_path):
    demo, base, _users = _serve(indexed[0], tmp_path)  # its own server: this one locks 127.0.0.1 out
    try:
        codes = [_login(base, "wrong password").status_code for _ in range(LoginThrottle.max_failures)]
        assert set(codes) == {400}
        locked = _login(base)  # even the right password waits now
        assert locked.status_code == 429 and "Too many failed logins" in locked.text
        assert int(locked.headers["retry-after"]) > 0
    finally:
        demo.close()


def test_the_throttle_doubles_and_forgets(tmp_path):
    from ui.auth import Authenticator, add_user, read_users

    now = [1000.0]
    throttle = LoginThrottle(max_failures=2, base_delay_s=10, max_delay_s=25, clock=lambda: now[0])
    users = tmp_path / "users.txt"
    add_user(users, "anna", PASSWORD)
    auth = Authenticator(read_users(users), throttle)
    assert not auth("anna", "nope") and throttle.wait_s("anna") == 0
    assert not auth("anna", "nope") and throttle.wait_s("anna") == 10
    assert not auth("anna", PASSWORD)  # locked: the password is not even checked
    now[0] += 10.5
    assert not auth("anna", "nope") and throttle.wait_s("anna") == 20  # doubled
    now[0] += 21
    assert not auth("anna", "nope") and throttle.wait_s("anna") == 25  # capped
    now[0] += 26
    assert auth("anna", PASSWORD) and throttle.wait_s("anna") == 0  # success clears it


def test_users_file_is_private(tmp_path):
    from ui.auth import add_user

    users = tmp_path / "users.txt"
    users.write_text("")
    users.chmod(0o644)
    add_user(users, "anna", PASSWORD)
    add_user(users, "ben", PASSWORD)
    assert os.stat(users).st_mode & 0o777 == 0o600
    assert PASSWORD not in users.read_text()


def test_uploads_over_the_cap_are_refused_and_the_server_stays_up(guarded, tmp_path):
    _demo, base, _users = guarded
    session = requests.Session()
    session.cookies.update(_login(base).cookies)
    big = tmp_path / "big.jpg"
    big.write_bytes(os.urandom(300_000))
    with open(big, "rb") as handle:
        answer = session.post(f"{base}/gradio_api/upload", files={"files": handle}, timeout=GENEROUS_S)
    assert answer.status_code == 413 and "maximum allowed size" in answer.text
    small = tmp_path / "small.jpg"
    small.write_bytes(b"x" * 1000)
    with open(small, "rb") as handle:
        assert session.post(f"{base}/gradio_api/upload", files={"files": handle}, timeout=GENEROUS_S).ok
    assert session.get(f"{base}/gradio_api/info", timeout=GENEROUS_S).status_code == 200


def test_users_file_roles_old_lines_and_bad_roles(tmp_path):
    from gallery.core.errors import ConfigError
    from ui.auth import add_user, hash_password, read_users

    users = tmp_path / "users.txt"
    users.write_text(f"old:{hash_password(PASSWORD, iterations=1000)}\n")  # written before roles
    assert read_users(users)["old"].role == "curator"
    add_user(users, "victor", PASSWORD, "viewer")
    stored = read_users(users)["victor"].stored
    add_user(users, "victor", None, "admin")  # the role alone changes
    assert read_users(users)["victor"].role == "admin" and read_users(users)["victor"].stored == stored
    assert users.read_text().splitlines()[0].startswith("old:curator:pbkdf2_sha256$")
    with pytest.raises(ConfigError, match="role 'owner' is not one of viewer, curator, admin"):
        add_user(users, "victor", None, "owner")
    with pytest.raises(ConfigError, match="a new user needs a password"):
        add_user(users, "newcomer", None, "viewer")
    users.write_text(f"eve:owner:{stored}\n")
    with pytest.raises(ConfigError, match="line 1: role 'owner'"):
        read_users(users)


def test_users_commands_set_and_list_roles(gallery_cli, tmp_path):
    users = tmp_path / "users.txt"
    assert "user anna (curator) saved" in gallery_cli("users", "add", "anna", "--file", users, "--password",
                                                      PASSWORD).stdout
    gallery_cli("users", "add", "victor", "--file", users, "--role", "viewer", "--password", PASSWORD)
    gallery_cli("users", "add", "anna", "--file", users, "--role", "admin", "--keep-password")
    listed = gallery_cli("users", "list", "--file", users).stdout.split()
    assert listed == ["anna", "admin", "victor", "viewer"] and "pbkdf2" not in " ".join(listed)
    bad = gallery_cli("users", "add", "zed", "--file", users, "--keep-password", check=False)
    assert bad.returncode != 0 and "a new user needs a password" in bad.stderr and "Traceback" not in bad.stderr
