"""gallery backup | restore."""

from __future__ import annotations

from pathlib import Path

import click

from gallery.cli.common import domain_errors, echo_json, settings_options


def _print(summary, verb: str, as_json: bool) -> None:
    if as_json:
        echo_json(summary.to_json())
        return
    click.echo(f"{verb} {summary.folder}: {summary.backend} database (schema {summary.schema}), "
               f"{len(summary.embedding_sets)} embedding set(s), {summary.files} file(s), "
               f"{summary.bytes / 1e6:.1f} MB")
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command()
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@settings_options
def backup(dest, as_json, settings):
    """Back up the collection into the new folder DEST: the database (a consistent snapshot, safe
    while the page serves and the indexer runs; pg_dump for PostgreSQL), the vector indexes and the
    weights manifest, with a checksum for every file.

    \b
    Example:
      gallery backup /mnt/backups/gallery-2026-11-23
    """
    from gallery.admin.backup import backup as run_backup

    with domain_errors():
        summary = run_backup(settings, Path(dest))
    _print(summary, "backed up to", as_json)


@click.command()
@click.argument("source", type=click.Path(file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@settings_options
def restore(source, as_json, settings):
    """Restore a backup made by `gallery backup` into an empty data folder (or empty database).
    Every file's checksum is checked first; a collection already there is never overwritten.

    \b
    Example:
      gallery restore /mnt/backups/gallery-2026-11-23 --data-dir /srv/gallery
    """
    from gallery.admin.backup import restore as run_restore

    with domain_errors():
        summary = run_restore(settings, Path(source))
    _print(summary, "restored from", as_json)
