"""gallery faces (detect | add | reject | restore) | embed | compare."""

from __future__ import annotations

from pathlib import Path

import click

from gallery.cli.common import domain_errors, echo_json, progress, settings_options


def _pipeline(settings, pictures=()):
    """The pipeline, calibrating int8 models (when asked for and not made yet) on `pictures` and
    then the collection's; the database is opened only then (its libraries take 0.3 s to import)."""
    from gallery.faces.pipeline import FacePipeline

    def calibration():
        from db.collection import calibration_pictures

        return calibration_pictures(settings.database_url, settings.int8_pictures, pictures)()

    return FacePipeline(settings, calibration=calibration)


class _DetectByDefault(click.Group):
    """`gallery faces IMAGE` detects (as it always has); `gallery faces add|reject|restore ...` edit."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["detect", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DetectByDefault)
def faces():
    """Detect faces in an image (`gallery faces IMAGE`), or edit a collection's faces.

    \b
    Examples:
      gallery faces group.jpg --json
      gallery faces add collection/miniature.jpg --box 212,96,48,60 --sitter "Anne of Cleves"
      gallery faces reject 1207
      gallery faces restore 1207
    """


@faces.command("detect")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the faces as JSON.")
@settings_options
def detect(image, as_json, settings):
    """Detect every face in IMAGE, largest first, with box, 5 landmarks and score.

    `gallery faces IMAGE` is short for this.

    \b
    Example:
      gallery faces group.jpg --config profile.toml --json
    """
    with domain_errors():
        pipeline = _pipeline(settings, [image])
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
        pipeline = _pipeline(settings, files)
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
        result = compare_images(_pipeline(settings, [image_a, image_b]), image_a, image_b, face_a, face_b)
    if as_json:
        echo_json(result.to_json(settings.match_threshold))
        return
    click.echo(result.verdict(settings.match_threshold))
    click.echo(f"score {result.score:.4f}")
    for name, value in result.components.items():
        click.echo(f"  {name:<16} {value:.4f}")


_WHO = click.option("--curator", "who", default=None, help="Who makes the edit (recorded with it).")


@faces.command("add")
@click.argument("image")
@click.option("--box", required=True, help="X,Y,W,H of the face in the image's pixels (top-left corner, width, "
                                           "height).")
@click.option("--sitter", default=None, help="Confirm the drawn face as this existing sitter.")
@click.option("--new-sitter", is_flag=True, help="--sitter names a new sitter, to be created.")
@click.option("--note", default=None, help="A note recorded with the identification.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_WHO
@settings_options
def add_face(image, box, sitter, new_sitter, note, as_json, who, settings):
    """Draw a face the detector missed: IMAGE (an artwork's path, or its id) at --box.

    Landmarks come from the detector run on the box alone, or are placed from the box; the face
    is embedded and searchable at once, keeps its place through later index runs and model
    upgrades, and is marked as drawn by hand. Nothing is written when anything is refused: a box
    too small or outside the image, a face already there, an unknown sitter.

    \b
    Example:
      gallery faces add collection/miniature.jpg --box 212,96,48,60 --sitter "Anne of Cleves"
    """
    from db.engine import open_database
    from gallery.faces.drawn import parse_box
    from indexer.face_edits import draw_face

    with domain_errors():
        drawn = draw_face(settings, _pipeline(settings), open_database(settings.database_url), image,
                          parse_box(box), sitter, new_sitter, who, note)
    if as_json:
        echo_json(drawn.to_json())
    else:
        click.echo(drawn.describe())


def _face_edit_command(name: str):
    """`gallery faces NAME FACE_ID [--json] [--curator WHO]` with the settings options."""

    def command(func):
        for decorate in (settings_options, _WHO,
                         click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
                         click.argument("face_id", type=int), faces.command(name)):
            func = decorate(func)
        return func

    return command


def _face_edit(edit, face_id, who, as_json, settings):
    from db.engine import open_database

    with domain_errors():
        state = edit(settings, open_database(settings.database_url), face_id, who)
    if as_json:
        echo_json(state.to_json())
    else:
        click.echo(state.describe())


@_face_edit_command("reject")
def reject_face(face_id, as_json, who, settings):
    """Mark face FACE_ID as not a face (an ornament, a reflection, a pattern).

    It leaves search, suggestions, clusters, evaluation and training, and a later index run does
    not bring it back. Its record and identifications stay; `gallery faces restore` undoes it.

    \b
    Example:
      gallery faces reject 1207 --curator "A. Curator"
    """
    from indexer.face_edits import reject_face as edit

    _face_edit(edit, face_id, who, as_json, settings)


@_face_edit_command("restore")
def restore_face(face_id, as_json, who, settings):
    """Take back the rejection of face FACE_ID: it is searchable again, with its identifications.

    \b
    Example:
      gallery faces restore 1207
    """
    from indexer.face_edits import restore_face as edit

    _face_edit(edit, face_id, who, as_json, settings)
