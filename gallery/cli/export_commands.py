"""gallery export identifications | annotations | wikidata | xmp | linked-art."""

from __future__ import annotations

from pathlib import Path

import click

from gallery.cli.common import domain_errors, settings_options


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

    from gallery.reports.exports import write_identifications

    with domain_errors():
        written, count = write_identifications(open_database(settings.database_url), Path(out))
    click.echo(f"{count} identification(s) written to {written}")


@export.command("annotations")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False),
              help="The AnnotationCollection (.json).")
@click.option("--sitter", default=None, help="Only this sitter's identifications.")
@click.option("--base", default=None, metavar="URL",
              help="The http(s) address the annotation and page ids are made under (where you will publish them). "
                   "Default: under each canvas's own id; works indexed from a folder need one.")
@click.option("--manifest", default=None, metavar="URL|FILE",
              help="Also write a copy of this IIIF Presentation 3 manifest with the annotations on its canvases.")
@click.option("--manifest-out", type=click.Path(dir_okay=False), default=None,
              help="Where the annotated manifest copy goes (default: next to --out).")
@settings_options
def export_annotations(out, sitter, base, manifest, manifest_out, settings):
    """The identifications as W3C Web Annotations (IIIF Presentation 3): one AnnotationPage per
    canvas, each face an `xywh` region of its canvas, the sitter's name and authority links as body.

    \b
    Examples:
      gallery export annotations -o identifications.json --base https://museum.example/annotations
      gallery export annotations -o anno.json --manifest https://museum.example/iiif/123/manifest.json
    """
    from db.engine import open_database
    from gallery.core.http import Fetcher, cache_dir_of

    from gallery.reports.annotations import write_annotations

    with domain_errors():
        document = target = None
        if manifest:
            fetcher = Fetcher(cache_dir_of(settings), settings.http_timeout_s)
            try:
                document = fetcher.json(manifest)
            finally:
                fetcher.close()
            target = Path(manifest_out) if manifest_out else Path(out).with_name(Path(out).stem + "-manifest.json")
        pages, count = write_annotations(open_database(settings.database_url), Path(out), base, sitter, document,
                                         target)
    click.echo(f"{count} annotation(s) on {pages} canvas(es) written to {out}"
               + (f"; annotated manifest: {target}" if target else ""))


@export.command("wikidata")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False),
              help="The QuickStatements batch (.txt, tab-separated).")
@settings_options
def export_wikidata(out, settings):
    """The identifications as a Wikidata QuickStatements batch: each artwork with a Wikidata id
    depicts (P180) the sitter's item, with the face's relative position (P2677) and "presumably"
    (P1480) for a probable identification. Artworks and sitters without ids are listed, not guessed.

    \b
    Example:
      gallery export wikidata -o depicts.txt
    """
    from db.engine import open_database

    from gallery.reports.wikidata import write_wikidata

    with domain_errors():
        written, batch = write_wikidata(open_database(settings.database_url), Path(out))
    for line in batch.describe():
        click.echo(line, err=True)
    click.echo(f"{len(batch.lines)} statement(s) written to {written}; paste them into QuickStatements "
               "(https://quickstatements.toolforge.org) to add them to Wikidata")


@export.command("xmp")
@click.option("-o", "--out", "out", required=True, type=click.Path(file_okay=False),
              help="The folder the sidecars (or, with --embed, the picture copies) go to, by their paths in the "
                   "collection.")
@click.option("--embed", is_flag=True,
              help="Write the regions into copies of the pictures instead of sidecars (never into the originals).")
@click.option("--probable", "include_probable", is_flag=True, help="Probable identifications too (default: confirmed).")
@settings_options
def export_xmp(out, embed, include_probable, settings):
    """Each identified face as an XMP face region, in the two conventions digital asset managers
    read: Metadata Working Group regions and IPTC Extension image regions (with the sitter's
    Wikidata, ULAN and VIAF URIs). Sidecar .xmp files by default.

    \b
    Examples:
      gallery export xmp -o regions/
      gallery export xmp -o tagged-copies/ --embed --probable
    """
    from db.engine import open_database

    from gallery.reports.xmp import write_xmp

    with domain_errors():
        report = write_xmp(open_database(settings.database_url), Path(out), embed, include_probable)
    for line in report.describe():
        click.echo(line, err=True)
    kind = "picture copies" if embed else "sidecar(s)"
    click.echo(f"{report.regions} face region(s) written to {len(report.written)} {kind} under {out}")


@export.command("linked-art")
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False), help="The JSON-LD file (.jsonld).")
@click.option("--base", required=True, metavar="URI",
              help="The URI the records' ids are made under (where you will publish them), "
                   "such as https://museum.example/linked-art.")
@settings_options
def export_linked_art(out, base, settings):
    """The identifications as Linked Art: each artwork shows a visual item that represents its
    sitters, with every identification (confirmed, probable, disputed or rejected) as an
    attribute assignment: who, when, status and evidence.

    \b
    Example:
      gallery export linked-art -o identifications.jsonld --base https://museum.example/linked-art
    """
    from db.engine import open_database

    from gallery.reports.linked_art import write_linked_art

    with domain_errors():
        written, count = write_linked_art(open_database(settings.database_url), Path(out), base)
    click.echo(f"{count} artwork record(s) written to {written}")
