"""gallery db version | upgrade: the collection database's schema, and upgrading it explicitly."""

from __future__ import annotations

from pathlib import Path

import click

from gallery.cli.common import domain_errors, echo_json, settings_options


@click.group()
def db():
    """The collection database's schema: where it stands, and upgrading a collection made by an
    earlier release. No other command upgrades: each says when an upgrade is needed.

    \b
    Example:
      gallery db version
      gallery db upgrade --dry-run
    """


def _describe(state) -> None:
    click.echo(f"database {state.database}")
    click.echo(f"  schema {state.current or 'none (empty)'}; this release's schema is {state.head}")
    for step in state.pending:
        click.echo(f"  to do: {step.revision} {step.title}")
    for leftover in state.leftovers:
        click.echo(f"  to repair: {leftover}, left by an upgrade that failed")


@db.command("version")
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
@settings_options
def db_version(as_json, settings):
    """The collection database's schema revision, this release's, and the upgrade steps between.
    Changes nothing; exits 0 when the collection is up to date, 3 when it needs `gallery db upgrade`.

    \b
    Example:
      gallery db version --json
    """
    from gallery.admin.upgrade import database_state

    with domain_errors():
        state = database_state(settings)
    if as_json:
        echo_json(state.to_json())
    else:
        _describe(state)
        click.echo("  needs an upgrade: gallery db upgrade" if state.needs_upgrade else "  up to date")
    if state.needs_upgrade:
        raise SystemExit(3)


@db.command("upgrade")
@click.option("--dry-run", is_flag=True, help="Say what would be done (steps, repairs, backup folder); change nothing.")
@click.option("--backup-to", type=click.Path(file_okay=False), default=None,
              help="Folder for the backup taken first (new or empty); default: "
                   "DATA_DIR/backups/before-upgrade-<schema>-<time>.")
@click.option("--no-backup", is_flag=True,
              help="Take no backup first (only when you have just taken your own).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@settings_options
def db_upgrade(dry_run, backup_to, no_backup, as_json, settings):
    """Upgrade a collection made by an earlier release to this release's schema: a verified backup
    first (unless --no-backup), then every step in one transaction, so a failure changes nothing.
    Also repairs a collection that a failed upgrade of an earlier release left unopenable.

    \b
    Examples:
      gallery db upgrade --dry-run
      gallery db upgrade --backup-to /mnt/backups/gallery-before-0.6.0
    """
    from gallery.admin.upgrade import upgrade_collection

    say = (lambda _: None) if as_json else (lambda text: click.echo(text, err=True))
    with domain_errors():
        report = upgrade_collection(settings, dry_run=dry_run, take_backup=not no_backup,
                                    backup_to=Path(backup_to) if backup_to else None, say=say)
    if as_json:
        echo_json(report.to_json())
        return
    _describe(report.before)
    if report.after is None and not dry_run:
        click.echo("  nothing to do: " + ("the database is empty; it is created at the latest schema on first use"
                                          if report.before.current is None else "up to date"))
    elif dry_run:
        where = report.planned_backup or "none (--no-backup)"
        click.echo(f"  dry run: nothing changed; the upgrade would back up to {where} first")
    else:
        if report.backup:
            click.echo(f"  backup (verified): {report.backup.folder}")
            click.echo(f"    to go back: restore it with the earlier release, "
                       f"`gallery restore {report.backup.folder} --data-dir EMPTY_FOLDER`")
        click.echo(f"  upgraded to schema {report.after.current}")
