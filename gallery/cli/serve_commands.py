"""gallery serve | users add."""

from __future__ import annotations

from pathlib import Path

import click

from gallery.cli.common import domain_errors, settings_options


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; 0.0.0.0 exposes the page to the network.")
@click.option("--port", default=7860, show_default=True, type=int)
@click.option("--auth-file", type=click.Path(dir_okay=False), default=None,
              help="Users file (gallery users add): the page and the API then require a login.")
@settings_options
def serve(host, port, auth_file, settings):
    """Start the curator's page in the browser: Identify, Compare, Collection, Status.

    \b
    Example:
      gallery serve --config profile.toml --auth-file users.txt --port 7860
    """
    from ui.server import launch

    if host not in ("127.0.0.1", "localhost", "::1") and not auth_file:
        click.echo(f"warning: serving on {host} without --auth-file: anyone who reaches it can curate", err=True)
    with domain_errors():
        launch(settings, host, port, Path(auth_file) if auth_file else None)


@click.group()
def users():
    """Curator accounts for the page (salted PBKDF2 hashes in a users file).

    \b
    Example:
      gallery users add anna --file users.txt
    """


@users.command("add")
@click.argument("name")
@click.option("--file", "path", required=True, type=click.Path(dir_okay=False), help="The users file.")
@click.password_option(help="Asked for when not given (at least 8 characters).")
def users_add(name, path, password):
    """Add NAME to the users file, or change NAME's password.

    \b
    Example:
      gallery users add anna --file users.txt
    """
    from ui.auth import add_user

    with domain_errors():
        add_user(Path(path), name, password)
    click.echo(f"user {name} saved in {path}")
