"""gallery search."""

from __future__ import annotations

from pathlib import Path

import click

from gallery.cli.common import domain_errors, echo_json, settings_options


@click.command()
@click.argument("image", type=click.Path())
@click.option("--face", type=int, default=None, help="Which face of IMAGE (0 = the largest, the default).")
@click.option("--top-k", type=int, default=10, show_default=True, help="Candidate sitters to list.")
@click.option("--min-score", type=float, default=None, help="Ignore matches below this score.")
@click.option("--date", default=None, help="The work's date as catalogued ('1650', 'c. 1650', '1640-1660', "
              "'17th century'): each candidate is judged against it (a collection work's own date by default).")
@click.option("--artist", default=None, help="The work's artist (a collection work's own by default): a caution is "
              "given when a candidate's strongest likenesses are by the same hand.")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Enquiry results file (.csv, .json or .pdf); needed when IMAGE is a folder or a zip.")
@click.option("--all-faces", is_flag=True, help="Enquiry: search every face of every image, not only the largest.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@settings_options
def search(image, face, top_k, min_score, date, artist, out, all_faces, as_json, settings):
    """Who is in IMAGE: candidate sitters ranked by their best matching face, with the artworks
    behind each match and per-component scores.

    IMAGE may also be a folder or a zip of images (an enquiry): every image is searched, in
    batches, and one summary is written to --out; unreadable files and images without a face
    are listed there, never stopping the run.

    \b
    Examples:
      gallery search portrait.jpg --config profile.toml --top-k 5 --json
      gallery search dealer-catalogue.zip --out results.pdf --all-faces
    """
    from gallery.search.service import search_service

    if out or Path(image).is_dir() or image.lower().endswith(".zip"):
        _enquiry(Path(image), out, top_k, all_faces, as_json, settings)
        return
    with domain_errors():
        service = search_service(settings)
        result = service.search(image, face=face, candidates=top_k, threshold=settings.match_threshold,
                                min_score=min_score, date=date, artist=artist)
    if as_json:
        echo_json(result.to_json())
        return
    click.echo(f"{len(result.faces)} face(s) in {image}; searching face {result.face} "
               f"(profile {result.profile}, threshold {result.threshold:.2f})")
    if result.low_quality:
        click.echo(f"warning: the query face's quality is {result.query_quality:.2f}, below {result.quality_floor:.2f}: "
                   "the scores are unreliable")
    if result.no_confident_match:
        click.echo("no confident match: no sitter scores above the threshold")
    if result.date:
        click.echo(f"judged against the work's date {result.date.text!r} ({result.date})")
    for rank, candidate in enumerate(result.candidates, start=1):
        replicas = sum(len(a.replicas) for a in candidate.artworks)
        click.echo(f"{rank:>3}. {candidate.sitter:<36} {candidate.score:.3f}  {candidate.status:<9} "
                   f"{len(candidate.artworks)} matching work(s)" + (f" and {replicas} replica(s)" if replicas else "")
                   + (f"  {candidate.false_match}" if candidate.false_match else ""))
        if candidate.search_false_match:
            click.echo(f"       {candidate.search_false_match}")
        if candidate.likelihood is not None:
            click.echo(f"       {candidate.likelihood.describe()}")
        if candidate.same_hand:
            click.echo(f"       caution: {candidate.same_hand}")
        if result.date:
            judged = candidate.plausibility
            click.echo(f"       {judged.verdict}: {judged.reason}")
    if result.unidentified:
        click.echo("unidentified faces that resemble the query:")
        for match in result.unidentified[:5]:
            click.echo(f"     face {match.face_id} in {match.path}  {match.score:.3f}")


def _enquiry(source, out, top_k, all_faces, as_json, settings) -> None:
    import tempfile

    from gallery.reports.enquiry import EnquiryError, results_kind, run_enquiry, write_enquiry
    from gallery.search.service import search_service
    from gallery.cli.common import LateBar

    with domain_errors():
        if not out:
            raise EnquiryError(f"{source} is a folder or a zip: name the results file with --out "
                               "(.csv, .json or .pdf)")
        results_kind(out)  # a wrong name is refused before anything is searched
        service = search_service(settings)
        bar = LateBar("searching")
        with tempfile.TemporaryDirectory(prefix="gallery-enquiry-") as workdir:
            enquiry = run_enquiry(service, [source], Path(workdir), all_faces, top_k, settings.match_threshold,
                                  settings.batch_size, bar)
        bar.close()
        written = write_enquiry(enquiry, Path(out), service)
    if as_json:
        echo_json(enquiry.to_json())
        return
    c = enquiry.counts()
    click.echo(f"{c['queries']} image(s), {c['faces_searched']} face(s) searched, {c['confident']} with a confident "
               f"match, {c['no_face']} without a face, {c['failed']} unreadable ({enquiry.images_per_s:.1f} images/s); "
               f"results written to {written}")


@click.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Report file: .pdf, .csv or .json.")
@click.option("--face", type=int, default=None, help="Which face of IMAGE (0 = the largest, the default).")
@click.option("--top-k", type=int, default=10, show_default=True, help="Candidate sitters in the report.")
@click.option("--curator", default=None, help="Name of the curator, printed in the report.")
@click.option("--note", default=None, help="Free-text note printed in the report.")
@click.option("--explain-grid", type=int, default=None,
              help="Why the top candidate matched (PDF, JSON): occlusion positions a side (default explain_grid; 0: "
              "leave it out).")
@settings_options
def report(image, out, face, top_k, curator, note, explain_grid, settings):
    """Search IMAGE and write a match report (PDF with crops, CSV or JSON) that names the
    profile and the sha256 of every weights file used.

    \b
    Example:
      gallery report portrait.jpg -o portrait-report.pdf --curator "A. Curator" --note "Lot 42"
    """
    from gallery.reports.match import build_report, explain_grid_for, write_report
    from gallery.search.service import search_service

    with domain_errors():
        service = search_service(settings)
        result = service.search(image, face=face, candidates=top_k, threshold=settings.match_threshold)
        built = build_report(service, result, curator, note, explain_grid_for(out, explain_grid))
        written = write_report(built, Path(out))
    click.echo(f"report written to {written}")
