"""gallery export identifications."""

from __future__ import annotations

from pathlib import Path

import click

from .common import domain_errors, settings_options


@click.group()
def export():
    """Take the curated record out of the system.

    \b
    Example:
      gallery export identifications -o identifications.csv
    """


@export.command("identifications")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False), help="A .csv or .json file.")
@settings_options
def export_identifications(out, settings):
    """Every current identification: face (box, artwork, file sha256), sitter (with alternative
    names, dates and external ids), status, source, who and when.

    \b
    Example:
      gallery export identifications -o identifications.json
    """
    from db.engine import open_database

    from ..exports import write_identifications

    with domain_errors():
        written, count = write_identifications(open_database(settings.database_url), Path(out))
    click.echo(f"{count} identification(s) written to {written}")
