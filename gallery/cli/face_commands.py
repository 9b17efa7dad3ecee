"""gallery faces | embed | compare."""

from __future__ import annotations

from pathlib import Path

import click

from gallery.cli.common import domain_errors, echo_json, progress, settings_options


def _pipeline(settings):
    from gallery.faces.pipeline import FacePipeline

    return FacePipeline(settings)


@click.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the faces as JSON.")
@settings_options
def faces(image, as_json, settings):
    """Detect every face in IMAGE, largest first, with box, 5 landmarks and score.

    \b
    Example:
      gallery faces group.jpg --config profile.toml --json
    """
    with domain_errors():
        pipeline = _pipeline(settings)
        found = pipeline.detect(pipeline.load(image))
    if as_json:
        echo_json([f.to_json() for f in found])
        return
    click.echo(f"{len(found)} face(s) in {image}")
    for i, face in enumerate(found):
        x1, y1, x2, y2 = face.box
        click.echo(f"  [{i}] box ({x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f})  score {face.score:.3f}")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Output .npz file.")
@settings_options
def embed(paths, out, settings):
    """Embed every face in PATHS (files or folders, recursive) into an .npz file.

    The file holds paths, face_index, boxes, landmarks, vectors (fused,
    L2-normalised), component_<name> per encoder, no_face, failed and
    failed_reason. Unreadable files are reported and skipped.

    \b
    Example:
      gallery embed collection/ --config profile.toml --out faces.npz
    """
    from gallery.faces.batch import collect_images, embed_files, save_npz

    with domain_errors():
        files = collect_images(paths)
        pipeline = _pipeline(settings)
        pipeline.layout  # load models before the progress bar starts
        bar = progress(len(files), "embedding")
        stats = {"faces": 0, "errors": 0}

        def tick(_path, n_faces):  # n_faces < 0: the file could not be read
            if n_faces < 0:
                stats["errors"] += 1
            else:
                stats["faces"] += n_faces
            bar.set_postfix(faces=stats["faces"], errors=stats["errors"], refresh=False)
            bar.update(1)

        run = embed_files(pipeline, files, tick)
        bar.close()
        save_npz(run, pipeline, Path(out))
    for failure in run.failures:
        click.echo(f"skipped {failure.path}: {failure.reason}", err=True)
    click.echo(f"{len(run.paths)} face(s) from {len(files) - len(run.failures)} image(s) -> {out}; "
               f"{len(run.no_face)} without a face, {len(run.failures)} unreadable", err=True)


@click.command()
@click.argument("image_a", type=click.Path(dir_okay=False))
@click.argument("image_b", type=click.Path(dir_okay=False))
@click.option("--face-a", type=int, default=None, help="Face number in IMAGE_A (default: the largest, 0).")
@click.option("--face-b", type=int, default=None, help="Face number in IMAGE_B (default: the largest, 0).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@settings_options
def compare(image_a, image_b, face_a, face_b, as_json, settings):
    """Compare a face of IMAGE_A with a face of IMAGE_B: fused and per-component cosine.

    \b
    Example:
      gallery compare portrait.jpg photo.jpg --config profile.toml --json
    """
    from gallery.faces.batch import compare_images

    with domain_errors():
        result = compare_images(_pipeline(settings), image_a, image_b, face_a, face_b)
    if as_json:
        echo_json(result.to_json(settings.match_threshold))
        return
    click.echo(result.verdict(settings.match_threshold))
    click.echo(f"score {result.score:.4f}")
    for name, value in result.components.items():
        click.echo(f"  {name:<16} {value:.4f}")
