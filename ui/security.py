"""The page's guard when logins are on: deny by default, throttle failed logins, strict cookies.

Gradio protects most of its routes with a login check, but not all of them (its OpenAPI schema,
run listings, upload and reset routes answer without one). So the app gets one gate in front of
every route: without a valid session only `PUBLIC_PATHS` and `PUBLIC_PREFIXES` answer — what the
browser needs to draw the login form — and everything else is 401. The test suite enumerates the
app's routes from its own router and checks each one (tests/test_security.py).

Failed logins are throttled per client address (here, answered 429 with Retry-After) and per user
name (in `Authenticator`): after `max_failures` failures, each further attempt waits a delay that
doubles up to `max_delay_s`; a success clears it. Session cookies are HttpOnly and SameSite=Lax.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

PUBLIC_PATHS = frozenset({
    "/", "/login", "/login/", "/logout", "/favicon.ico", "/theme.css", "/robots.txt", "/manifest.json",
    "/gradio_api/login_check", "/gradio_api/login_check/",
    "/gradio_api/startup-events",  # gradio's own start-up probe; it returns a boolean and nothing else
})
PUBLIC_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")  # the page's code, fonts and icons
LOGIN_PATHS = frozenset({"/login", "/login/"})


@dataclass
class LoginThrottle:
    """Failed-login bookkeeping for one kind of key (an address or a user name)."""

    max_failures: int = 5
    base_delay_s: float = 30.0
    max_delay_s: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict = field(default_factory=dict)  # key -> (count, blocked until)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_s(self, key: str) -> float:
        """Seconds before `key` may try again (0 = now)."""
        with self._lock:
            _count, until = self._failures.get(key, (0, 0.0))
        return max(0.0, until - self.clock())

    def failed(self, key: str) -> None:
        with self._lock:
            count = self._failures.get(key, (0, 0.0))[0] + 1
            over = count - self.max_failures
            delay = 0.0 if over < 0 else min(self.max_delay_s, self.base_delay_s * 2 ** over)
            self._failures[key] = (count, self.clock() + delay)
            if len(self._failures) > 100_000:  # bounded memory under a flood of made-up names
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


def _session_user(app, scope) -> str | None:
    from starlette.requests import HTTPConnection

    cookies = HTTPConnection(scope).cookies
    tokens = getattr(app, "tokens", {})
    cookie_id = getattr(app, "cookie_id", "")
    for key in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
        if cookies.get(key) in tokens:
            return tokens[cookies[key]]
    return None


def _strict_cookie(value: bytes) -> bytes:
    parts = [p.strip() for p in value.decode("latin-1").split(";")]
    kept = [p for p in parts if p.split("=")[0].lower() not in ("samesite", "httponly")]
    return "; ".join([*kept, "HttpOnly", "SameSite=Lax"]).encode("latin-1")


class SessionGate:
    """ASGI middleware: the gate described above. It only acts when the app has logins on."""

    def __init__(self, app, throttle: LoginThrottle | None = None):
        self.app = app
        self.throttle = throttle or LoginThrottle()

    async def __call__(self, scope, receive, send):
        gradio_app = scope.get("app")
        if scope["type"] not in ("http", "websocket") or getattr(gradio_app, "auth", None) is None:
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if scope["type"] == "http" and path in LOGIN_PATHS and scope.get("method") == "POST":
            return await self._login(scope, receive, send)
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or _session_user(gradio_app, scope):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 4401})
        await _respond(send, 401, {"detail": "Not authenticated: log in first"})

    async def _login(self, scope, receive, send):
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.throttle.wait_s(client)
        if wait > 0:
            return await _respond(send, 429, {"detail": f"Too many failed logins from {client}; "
                                                        f"try again in {wait:.0f} s"},
                                  [(b"retry-after", str(int(wait) + 1).encode())])
        status = {}

        async def watch(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [(k, _strict_cookie(v) if k.lower() == b"set-cookie" else v)
                                      for k, v in message.get("headers", [])]
            await send(message)

        await self.app(scope, receive, watch)
        if status.get("code") == 200:
            self.throttle.succeeded(client)
        elif status.get("code") in (400, 401):
            self.throttle.failed(client)


async def _respond(send, code: int, body: dict, headers: list | None = None) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": payload})
