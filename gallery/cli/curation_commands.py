"""gallery add | curate | suggest | clusters: the curator's daily work on the collection."""

from __future__ import annotations

from pathlib import Path

import click

from gallery.cli.common import domain_errors, echo_json, settings_options

_WHO = click.option("--curator", "who", default=None, help="Who makes the decision (recorded with it).")
_NOTE = click.option("--note", default=None, help="A note recorded with the decision.")


@click.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--sitter", default=None, help="Confirm a face of IMAGE as this existing sitter.")
@click.option("--new-sitter", is_flag=True, help="--sitter names a new sitter, to be created.")
@click.option("--face", type=int, default=None, help="Which face is the sitter (0 = the largest, the default).")
@click.option("--title", default=None, help="Title (default: the file's name).")
@click.option("--artist", default=None)
@click.option("--date", default=None, help="The date as catalogued, e.g. 'c. 1665'.")
@click.option("--accession-number", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_WHO
@_NOTE
@settings_options
def add(image, sitter, new_sitter, face, title, artist, date, accession_number, as_json, who, note, settings):
    """Add IMAGE to the collection: stored under the data folder, indexed, searchable at once.

    An image already in the collection (the same file) is not added twice. With --sitter the
    face (the largest, or --face) is confirmed as that sitter; an unknown name is refused unless
    --new-sitter says it is a new one. Nothing is written when anything is refused.

    \b
    Example:
      gallery add dealer-photo.jpg --title "Portrait of a man" --date "c. 1640" --sitter "Frans Hals"
    """
    from db.engine import open_database
    from indexer.adding import add_image
    from gallery.core.files import read_image_bytes
    from gallery.faces.pipeline import FacePipeline

    with domain_errors():
        data = read_image_bytes(image)
        added = add_image(settings, FacePipeline(settings), open_database(settings.database_url), data,
                          Path(image).name, {"title": title, "artist": artist, "date": date,
                                             "accession_number": accession_number},
                          sitter, new_sitter, face, who, note)
    if as_json:
        echo_json(added.to_json())
    else:
        click.echo(added.describe())


def _face_ids(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"give face ids separated by commas, e.g. 12,15; got {text!r}") from None


@click.command()
@click.option("--min-score", type=float, default=None, help="Only suggestions scoring at least this.")
@click.option("--max-false-match", type=float, default=None,
              help="Only suggestions whose search rate is at most this (e.g. 0.01): the chance that a face of "
                   "someone the collection does not hold gets a suggestion scoring as high (needs `gallery calibrate`).")
@click.option("--limit", type=int, default=None, help="List at most this many (the most confident).")
@click.option("--accept", "accept_faces", default=None, metavar="FACES|all",
              help="Confirm the suggestions of these faces (ids, comma-separated), or of all listed.")
@click.option("--reject", "reject_faces", default=None, metavar="FACES",
              help="Reject the suggested sitter of these faces (ids, comma-separated).")
@click.option("--store", is_flag=True,
              help="Record the listed suggestions as 'probable' (source model); a curator's record stays.")
@click.option("--json", "as_json", is_flag=True, help="Print the suggestions as JSON.")
@_WHO
@_NOTE
@settings_options
def suggest(min_score, max_false_match, limit, accept_faces, reject_faces, store, as_json, who, note, settings):
    """For every face not yet identified, the sitter the collection's evidence points to, most
    confident first; accept or reject them.

    --accept all confirms every listed suggestion and needs --min-score or --max-false-match,
    so that a bulk decision always states its bar. Every decision is recorded with who and when;
    a rejected sitter is not suggested again for that face.

    \b
    Examples:
      gallery suggest --max-false-match 0.01
      gallery suggest --accept all --max-false-match 0.001 --curator anna
      gallery suggest --accept 412,415 --curator anna
      gallery suggest --reject 77 --curator anna
    """
    from gallery.curation import suggestions as s
    from gallery.search.service import search_service

    actions = sum(x is not None for x in (accept_faces, reject_faces)) + bool(store)
    if actions > 1:
        raise click.UsageError("give one of --accept, --reject and --store at a time")
    if accept_faces == "all" and min_score is None and max_false_match is None:
        raise click.UsageError("--accept all needs --min-score or --max-false-match: state the bar it accepts at")
    with domain_errors():
        service = search_service(settings)
        if reject_faces is not None or (accept_faces not in (None, "all")):
            chosen = s.for_faces(service, _face_ids(reject_faces if reject_faces is not None else accept_faces))
            decide = s.reject if reject_faces is not None else s.accept
            count = decide(service, chosen, who, note)
            click.echo(f"{'rejected' if reject_faces is not None else 'confirmed'} {count} suggestion(s): "
                       + ", ".join(f"face {x.face_id} as {x.sitter}" for x in chosen))
            return
        found = s.suggest(service, min_score, max_false_match, limit)
        if accept_faces == "all" or store:
            if not found.suggestions:
                raise click.ClickException("no suggestion meets the bar; nothing was recorded")
            count = s.accept(service, found.suggestions, who, note) if accept_faces else \
                s.store(service, found.suggestions)
            click.echo(f"{'confirmed' if accept_faces else 'stored as probable'} {count} suggestion(s)"
                       + (f"; {found.describe_expected_wrong(found.suggestions)}" if found.search_rates else ""))
            return
    if as_json:
        echo_json(found.to_json())
        return
    click.echo(f"{found.to_review} face(s) to review; {len(found.suggestions)} suggestion(s) listed, "
               f"{found.without_suggestion} face(s) without any")
    if found.search_rates and found.suggestions:
        click.echo(f"  accepting all listed: {found.describe_expected_wrong(found.suggestions)}")
    for x in found.suggestions:
        rate = f"  search rate {x.search_false_match_rate:.2g}" if x.search_false_match_rate is not None else ""
        rate += f"  {x.false_match}" if x.false_match else ""
        click.echo(f"  face {x.face_id:>6} -> {x.sitter:<32} {x.score:.3f}{rate}  ({x.title or Path(x.path).name})")


@click.command()
@click.option("--min-size", type=int, default=2, show_default=True, help="The fewest faces a cluster holds.")
@click.option("--neighbours", type=int, default=10, show_default=True, help="k of the nearest-neighbour graph.")
@click.option("--max-false-match", type=float, default=1e-4, show_default=True,
              help="Groups join while their faces score, on average, what this share of pairs of different "
                   "sitters reach (from `gallery calibrate`).")
@click.option("--min-score", type=float, default=None,
              help="Join at this average score instead (a cosine score; overrides --max-false-match).")
@click.option("--name", "cluster_id", type=int, default=None, metavar="ID",
              help="Confirm every face of cluster ID as --sitter.")
@click.option("--sitter", default=None, help="With --name: the sitter (an existing one, or new with --new-sitter).")
@click.option("--new-sitter", is_flag=True, help="--sitter names a new sitter, to be created.")
@click.option("--without", default=None, metavar="FACES", help="With --name: leave these face ids out.")
@click.option("--json", "as_json", is_flag=True, help="Print the clusters as JSON.")
@_WHO
@_NOTE
@settings_options
def clusters(min_size, neighbours, max_false_match, min_score, cluster_id, sitter, new_sitter, without, as_json, who,
             note, settings):
    """Groups of unidentified faces that look like one person: recurring unknown sitters.

    Faces still to review are clustered by average linkage over a FAISS nearest-neighbour graph,
    stopping at a calibrated false-match rate; faces below the quality floor are listed apart, too
    poor to cluster (see the docs). Name a cluster to confirm all its faces as one sitter at once.

    \b
    Examples:
      gallery clusters --min-size 3 --json
      gallery clusters --name 4 --sitter "Unknown man in black (Hals circle)" --new-sitter --without 903
    """
    from db.decisions import cluster_words, name_cluster
    from gallery.curation.clusters import ClusterParams, cluster_faces
    from gallery.search.service import search_service

    if cluster_id is None and (sitter or without):
        raise click.UsageError("--sitter and --without go with --name ID")
    with domain_errors():
        service = search_service(settings)
        found = cluster_faces(service, ClusterParams(min_size, neighbours, max_false_match, min_score))
        if cluster_id is not None:
            if not sitter:
                raise click.UsageError("--name needs --sitter")
            left_out = set(_face_ids(without or ""))
            members = [f.face_id for f in found.cluster(cluster_id).faces]
            stray = left_out - set(members)
            if stray:
                raise click.BadParameter(f"face {min(stray)} is not in cluster {cluster_id}", param_hint="--without")
            with service.database.session() as session:
                records = name_cluster(session, [f for f in members if f not in left_out], sitter, new_sitter, who,
                                       note)
                click.echo(cluster_words(records, cluster_id, who))
            return
    if as_json:
        echo_json(found.to_json())
        return
    click.echo(found.summary())
    for cluster in found.clusters:
        click.echo(f"  cluster {cluster.id}: {len(cluster.faces)} faces, cohesion {cluster.cohesion:.3f}: "
                   + ", ".join(f"face {f.face_id}" for f in cluster.faces[:12])
                   + (" ..." if len(cluster.faces) > 12 else ""))


@click.command()
@click.argument("face_id", type=int)
@click.argument("action", type=click.Choice(["confirmed", "probable", "disputed", "rejected", "reassign"]))
@click.option("--sitter", required=True, help="The sitter the decision is about (reassign: the one the face goes to; "
                                              "confirmed, probable and reassign create a new name).")
@click.option("--from-sitter", default=None, help="reassign: the sitter the face is taken from (rejected for it).")
@click.option("--json", "as_json", is_flag=True, help="Print the records written as JSON.")
@_WHO
@_NOTE
@settings_options
def curate(face_id, action, sitter, from_sitter, as_json, who, note, settings):
    """Record a curator's decision on one face: confirm, call probable, dispute or reject a sitter for
    it, or reassign it from one sitter to another. Appended to the face's identification history
    (`gallery sitters history`), the same decision as the page's Collection tab.

    \b
    Examples:
      gallery curate 412 confirmed --sitter "Saskia van Uylenburgh" --curator anna
      gallery curate 412 reassign --sitter "Titia van Uylenburgh" --from-sitter "Saskia van Uylenburgh"
    """
    from db.decisions import curate as decide, decision_words
    from db.engine import open_database
    from db.sitter_changes import existing_sitter

    with domain_errors():
        database = open_database(settings.database_url)
        with database.session() as session:
            taken_from = None if from_sitter is None else existing_sitter(session, from_sitter).id
            records = decide(session, face_id, action, sitter, who, note, taken_from)
            written = [{"face_id": r.face_id, "sitter": r.sitter.name, "status": r.status, "source": r.source,
                        "who": r.who, "note": r.note} for r in records]
            words = decision_words(records, face_id, who)
    if as_json:
        echo_json(written)
    else:
        click.echo(words)
