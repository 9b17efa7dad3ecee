"""gallery explain."""

from __future__ import annotations

from pathlib import Path

import click

from gallery.cli.common import LateBar, domain_errors, echo_json, settings_options


@click.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--face", type=int, default=None, help="Which face of IMAGE (0 = the largest, the default).")
@click.option("--sitter", default=None, help="Explain the match with this candidate (default: the top candidate).")
@click.option("--face-id", type=int, default=None, help="Explain the match with this collection face instead.")
@click.option("--grid", type=int, default=None, help="Occlusion positions a side, 2-32 (default: explain_grid, 7).")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Write the overlays as one picture (.png or .jpg): a row per component, query left, match right.")
@click.option("--json", "as_json", is_flag=True, help="Print the maps as JSON.")
@settings_options
def explain(image, face, sitter, face_id, grid, out, as_json, settings):
    """Why did IMAGE match? Occlusion maps, per component, of the query face and a matched
    collection face: where covering each face lowers the score (red: it supports the match) or
    raises it (blue: it argues against it).

    \b
    Examples:
      gallery explain portrait.jpg -o why.png
      gallery explain portrait.jpg --sitter "Anne of Cleves" --grid 10 --json
    """
    from PIL import Image

    from gallery.curation.explain import ExplainError, explain_match, panel
    from gallery.search.service import search_service

    with domain_errors():
        service = search_service(settings)
        result = service.search(image, face=face, candidates=50, threshold=settings.match_threshold)
        face_id, against = _matched_face(result, sitter, face_id)
        bar = LateBar("explaining")
        found = explain_match(service, result, face_id, grid, bar)
        bar.close()
        if out:
            if Path(out).suffix.lower() not in (".png", ".jpg", ".jpeg"):
                raise ExplainError(f"the overlays are written as .png or .jpg, got {Path(out).name!r}")
            Image.fromarray(panel(found)).save(out)
    if as_json:
        echo_json({**found.to_json(), "face_id": face_id, "against": against})
        return
    click.echo(f"face {result.face} of {image} against face {face_id} ({against}); "
               f"{found.grid} x {found.grid} positions, {found.seconds:.1f} s")
    for component in found.components:
        regions = component.regions()
        click.echo(f"  {component.name:<16} score {component.score:.3f}\n"
                   f"    query: most for {regions['query_for']}, most against {regions['query_against']}\n"
                   f"    match: most for {regions['match_for']}, most against {regions['match_against']}")
    if out:
        click.echo(f"overlays written to {out}")


def _matched_face(result, sitter: str | None, face_id: int | None) -> tuple[int, str]:
    """The collection face to explain against, and who it is in words."""
    from gallery.curation.explain import ExplainError

    if face_id is not None:
        return face_id, "chosen"
    if not result.candidates:
        raise ExplainError("the search found no candidate sitter to explain; name a collection face with --face-id")
    if sitter is None:
        chosen = result.candidates[0]
    else:
        chosen = next((c for c in result.candidates if c.sitter.casefold() == sitter.casefold()), None)
        if chosen is None:
            raise ExplainError(f"{sitter!r} is not among the {len(result.candidates)} best candidates for this face")
    return chosen.artworks[0].face_id, f"{chosen.sitter}'s best matching face"
