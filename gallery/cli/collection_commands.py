"""gallery index | status | sitters import | sitters list."""

from __future__ import annotations

from pathlib import Path

import click

from gallery.cli.common import LateBar, domain_errors, echo_json, settings_options
from gallery.faces.formats import SUPPORTED_LIST


@click.command()
@click.argument("collection", type=click.Path(file_okay=False), required=False)
@click.option("--metadata", "metadata_csv", type=click.Path(dir_okay=False), default=None,
              help="CSV with a 'file' column (relative to COLLECTION) and sitter/title/artist/... columns.")
@click.option("--workers", type=int, default=None, help="Reader processes (default: cores - 1).")
@click.option("--iiif", "iiif", default=None, metavar="URL|FILE",
              help="Index a IIIF manifest or collection (Presentation 2.1 or 3.0) instead of a folder.")
@click.option("--max-size", type=int, default=None, help="IIIF: ask for images at most this many pixels a side "
              "(default: the iiif_max_size setting, 2048).")
@click.option("--map", "mapping", multiple=True, metavar="LABEL=FIELD",
              help="IIIF: read a metadata label as an artwork field (title, artist, date, accession_number, "
                   "medium, institution, sitter); repeatable.")
@click.option("--ray", "ray", default=None, metavar="ADDRESS|local",
              help="Read and embed on a Ray cluster (the [cluster] extra): its address, or 'local' to start one "
                   "on this machine; the database is written from here.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@settings_options
def index(collection, metadata_csv, workers, iiif, max_size, mapping, ray, as_json, settings):
    """Index every face of every image under COLLECTION into the database and the vector index.

    Folder per sitter (COLLECTION/<Sitter Name>/<image>) labels the largest face of each image.
    Unchanged files are skipped, changed ones re-processed, moved ones followed, deleted ones
    marked missing. A killed run is completed by running the same command again.

    \b
    With --iiif, every canvas of a manifest, or of every manifest of a collection (nested ones
    followed), is fetched through the IIIF Image API at a bounded size and indexed; a re-import
    fetches only what changed, and canvases gone from their manifest are marked missing.

    \b
    Examples:
      gallery index /data/portraits --metadata catalogue.csv --config profile.toml
      gallery index --iiif https://museum.example/iiif/portraits/collection.json --max-size 2048
      gallery index /mnt/shared/portraits --ray ray-head.museum.internal:6379 --config cluster.toml
    """
    from indexer.runner import index_collection
    from gallery.config.settings import with_overrides

    if (collection is None) == (iiif is None):
        raise click.UsageError("give a COLLECTION folder or --iiif URL, one of them")
    if iiif is not None:
        if ray is not None:
            raise click.UsageError("--ray indexes a folder; a IIIF import is fetched and indexed on this machine")
        _index_iiif(iiif, max_size, mapping, as_json, settings)
        return
    with domain_errors():
        if workers is not None:
            settings = with_overrides(settings, workers=workers)
        bar = LateBar("indexing")
        summary = index_collection(settings, Path(collection), Path(metadata_csv) if metadata_csv else None,
                                   on_progress=lambda s: bar(s.done, s.total, faces=s.faces, errors=s.errors),
                                   ray=ray)
        bar.close()
    if as_json:
        echo_json(summary.to_json())
        return
    _print_summary(summary)


def _index_iiif(source, max_size, mapping, as_json, settings) -> None:
    from indexer.iiif_import import index_iiif

    fields = {}
    for entry in mapping:
        label, _, field = entry.partition("=")
        if not label.strip() or not field.strip():
            raise click.BadParameter(f"give LABEL=FIELD, got {entry!r}", param_hint="--map")
        fields[label.strip()] = field.strip()
    with domain_errors():
        bar = LateBar("fetching")
        summary = index_iiif(settings, source, max_size, mapping=fields,
                             on_fetch=lambda p: bar(p.done, p.total, downloaded=p.downloaded, errors=p.errors))
        bar.close()
    if as_json:
        echo_json(summary.to_json())
        return
    click.echo(f"{summary.canvases} canvas(es) in {summary.manifests} manifest(s) from {source}; "
               f"{summary.downloaded} image(s) downloaded, the rest from the cache; {summary.missing} marked missing",
               err=True)
    _print_summary(summary.indexed)
    for where, message in summary.problems:
        click.echo(f"  problem: {where}: {message}", err=True)


def _print_summary(summary) -> None:
    c = summary.counts
    click.echo(f"{summary.files} file(s) in {summary.collection} -> embedding set {summary.embedding_set} "
               f"({summary.profile})", err=True)
    skipped = summary.skipped
    if skipped:
        click.echo("  not read: " + ", ".join(f"{n} {kind}" for kind, n in sorted(skipped.items()))
                   + (f" (readable formats: {SUPPORTED_LIST})" if skipped.get("unsupported image") else ""), err=True)
    click.echo("  " + ", ".join(f"{c.get(k, 0)} {k}" for k in ("new", "changed", "moved", "embed", "unchanged",
                                                                  "missing", "failed")), err=True)
    click.echo(f"  {c.get('faces_added', 0)} face(s) added, {c.get('faces_embedded', 0)} re-embedded, "
               f"{c.get('faces_retired', 0)} retired; {c.get('identifications_added', 0)} identification(s) "
               f"from metadata, {c.get('identifications_carried', 0)} carried over", err=True)
    click.echo(f"  {summary.seconds:.1f} s: {summary.images_per_s:.1f} images/s, {summary.faces_per_s:.1f} faces/s; "
               f"vector index on opening: {summary.index_health} ({summary.index_detail})", err=True)
    for where, message in summary.errors:
        click.echo(f"  problem: {where}: {message}", err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--verify", is_flag=True,
              help="Hash every index's stored vectors against its manifest, even files unchanged since their save.")
@settings_options
def status(as_json, verify, settings):
    """Counts of artworks, faces, sitters, identified faces and errors; embedding sets and index health.

    \b
    Examples:
      gallery status --json
      gallery status --verify    (reads every index's whole copy of the vectors)
    """
    from indexer.status import collection_status

    with domain_errors():
        state = collection_status(settings, verify=verify)
    if as_json:
        echo_json(state.to_json())
        return
    c = state.counts
    click.echo(f"database {state.database}")
    click.echo(f"  {c['artworks']} artworks ({c['artworks_missing']} missing), {c['faces']} faces, "
               f"{c['sitters']} sitters, {c['identified_faces']} identified faces, {c['errors']} errors")
    for s in state.embedding_sets:
        mark = "*" if s["active"] else " "
        click.echo(f" {mark}set {s['key']} ({s['profile']}, {s['dim']}-d): {s['faces']} faces, "
                   f"index {s['index_health']} ({s['index_detail']})")
        if s["index"]:
            click.echo(f"      {s['index']}")
    for error in state.errors[:20]:
        click.echo(f"  error [{error['stage']}] {error['path']}: {error['message']}")
    if state.implausible:
        click.echo(f"  {len(state.implausible)} identification(s) with a date implausible for the sitter "
                   "(worth a look: a cataloguing error?):")
    for found in state.implausible[:20]:
        click.echo(f"    face {found['face_id']} ({found['title'] or found['path']}, {found['date']}) as {found['sitter']} "
                   f"({found['life']}): {found['reason']}")


@click.group()
def sitters():
    """The sitters of the collection: import a list, list them with their face counts.

    \b
    Example:
      gallery sitters import sitters.csv
    """


@sitters.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False))
@settings_options
def sitters_import(csv_file, settings):
    """Create or update sitters from CSV_FILE: name, alternative_names, birth_year, death_year,
    notes; any other column (wikidata, ulan, ...) is an external id.

    \b
    Example:
      gallery sitters import sitters.csv --db postgresql+psycopg://gallery@dbhost/gallery
    """
    from db.engine import open_database
    from db.sitters import import_sitters
    from indexer.metadata import read_sitters_csv

    with domain_errors():
        records, problems = read_sitters_csv(Path(csv_file))
        database = open_database(settings.database_url)
        with database.session() as session:
            counts = import_sitters(session, records)
    for problem in problems:
        click.echo(f"problem: {problem.where}: {problem.message}", err=True)
    click.echo(f"{counts['created']} sitter(s) created, {counts['updated']} updated, {len(problems)} problem(s)")


@sitters.command("list")
@click.option("--search", "query", default=None, help="Only sitters whose name contains this.")
@click.option("--all", "include_hidden", is_flag=True, help="Hidden sitters too (marked [hidden]).")
@click.option("--json", "as_json", is_flag=True, help="Print the sitters as JSON.")
@settings_options
def sitters_list(query, include_hidden, as_json, settings):
    """Every sitter with dates, the number of identified faces and artworks, and the face shown for it.

    Sitters hidden with `gallery sitters edit NAME --hide` are listed only with --all.

    \b
    Example:
      gallery sitters list --search rembrandt --json
    """
    from db.engine import open_database
    from db.sitters import list_sitters

    with domain_errors():
        database = open_database(settings.database_url)
        with database.session() as session:
            found = list_sitters(session, query, include_hidden)
    if as_json:
        echo_json([s.to_json() for s in found])
        return
    for s in found:
        shown = f"portrait face {s.portrait_face_id}" + (" (chosen)" if s.portrait_chosen else "") \
            if s.portrait_face_id else "no likeness"
        click.echo(f"{s.name:<40} {s.dates:<12} {s.faces:>5} face(s) {s.artworks:>5} artwork(s)  {shown}"
                   + ("  [hidden]" if s.hidden else ""))
