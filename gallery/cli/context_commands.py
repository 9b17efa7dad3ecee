"""gallery dossier | replicas: the art-historical context of the collection."""

from __future__ import annotations

from pathlib import Path

import click

from gallery.cli.common import domain_errors, echo_json, settings_options


@click.command()
@click.argument("sitter")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False), required=True,
              help="The dossier file: .pdf or .json.")
@settings_options
def dossier(sitter, out, settings):
    """SITTER's dossier: every identified likeness as a timeline (work date, age, artist, status of
    the identification, face thumbnail).

    \b
    Example:
      gallery dossier "Saskia van Uylenburgh" -o saskia.pdf
    """
    from db.engine import open_database
    from gallery.curation.dossier import build_dossier
    from gallery.reports.dossier_pdf import write_dossier

    with domain_errors():
        found = build_dossier(open_database(settings.database_url), sitter, settings.posthumous_years)
        written = write_dossier(found, Path(out))
    click.echo(f"{found.sitter}: {len(found.likenesses)} likeness(es) -> {written}")


@click.command()
@click.option("--same", "same", nargs=2, type=int, default=None, metavar="A B",
              help="Record that artworks A and B are the same image.")
@click.option("--different", "different", nargs=2, type=int, default=None, metavar="A B",
              help="Record that artworks A and B are different images (undoes a grouping).")
@click.option("--curator", "who", default=None, help="Who makes the decision (recorded with it).")
@click.option("--note", default=None, help="A note recorded with the decision.")
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON.")
@settings_options
def replicas(same, different, who, note, as_json, settings):
    """Groups of artworks that are the same image (a painting photographed twice, a print and its
    copy, a replica), as search sees them; record a curator's decision on a pair.

    \b
    Examples:
      gallery replicas --json
      gallery replicas --different 120 388 --curator anna --note "autograph replica, different canvas"
    """
    from db.replicas import decide_replicas
    from gallery.curation.replicas import collection_replicas
    from gallery.search.service import search_service

    if same and different:
        raise click.UsageError("give --same or --different, not both")
    with domain_errors():
        service = search_service(settings)
        if same or different:
            first, second = same or different
            with service.database.session() as session:
                decide_replicas(session, first, second, bool(same), who, note)
            click.echo(f"recorded: artworks {first} and {second} are {'the same image' if same else 'different images'}")
            return
        groups = collection_replicas(service)
    if as_json:
        echo_json({"groups": [g.to_json() for g in groups]})
        return
    click.echo(f"{len(groups)} group(s) of artworks that are the same image")
    for group in groups:
        click.echo("  " + " = ".join(f"{a['id']} ({a['title'] or Path(a['path']).name})" for a in group.artworks)
                   + ("  [curator]" if group.decided else ""))
