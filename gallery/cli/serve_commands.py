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
@click.option("--role", type=click.Choice(["viewer", "curator", "admin"]), default=None,
              help="viewer: search, compare, dossiers, reports; curator: every decision too; admin: a curator who "
                   "also runs users, backup and restore (on the server). A new user without it: curator.")
@click.option("--keep-password", is_flag=True, help="Change only the role of an existing user.")
@click.password_option(help="Asked for when not given (at least 8 characters).", prompt_required=False)
def users_add(name, path, role, keep_password, password):
    """Add NAME to the users file, or change NAME's password or role.

    \b
    Examples:
      gallery users add anna --file users.txt --role curator
      gallery users add victor --file users.txt --role viewer
      gallery users add victor --file users.txt --role curator --keep-password
    """
    from ui.auth import add_user

    if not keep_password and password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with domain_errors():
        user = add_user(Path(path), name, None if keep_password else password, role)
    click.echo(f"user {name} ({user.role}) saved in {path}")


@users.command("list")
@click.option("--file", "path", required=True, type=click.Path(dir_okay=False), help="The users file.")
def users_list(path):
    """The users file's logins and their roles (never the hashes).

    \b
    Example:
      gallery users list --file users.txt
    """
    from ui.auth import read_users

    with domain_errors():
        found = read_users(Path(path))
    for name, user in found.items():
        click.echo(f"{name:<32} {user.role}")
