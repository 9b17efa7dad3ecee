"""Starting the page: `gallery serve` and `app.py` call `serve`."""

from __future__ import annotations

from pathlib import Path

from gallery.config.settings import Settings

from ui import keys
from ui.auth import Authenticator, read_users


def launch(settings: Settings, host: str = "127.0.0.1", port: int = 7860, auth_file: Path | None = None,
           block: bool = True):
    """Build the services and the page and start serving; returns the Blocks (when not blocking)."""
    from ui.app import build_app
    from ui.services import build_services

    authenticator = Authenticator(read_users(auth_file)) if auth_file else None
    services = build_services(settings, auth_on=authenticator is not None,
                              roles=authenticator.roles() if authenticator else None)
    demo = build_app(services)
    demo.launch(js=keys.script(), server_name=host, server_port=port, auth=authenticator, max_file_size=settings.max_upload_bytes,
                allowed_paths=[], show_error=True, prevent_thread_lock=not block, inbrowser=False,
                app_kwargs=_guarded() if authenticator else None,
                auth_message="Portrait Gallery: log in with your account." if authenticator else None)
    return demo


def _guarded() -> dict:
    """With logins on: the deny-by-default gate in front of every route, and no schema pages."""
    from starlette.middleware import Middleware

    from ui.security import SessionGate

    return {"middleware": [Middleware(SessionGate)], "openapi_url": None, "docs_url": None, "redoc_url": None}
