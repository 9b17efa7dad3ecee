"""gallery weights list | download | import | verify | quantize | convert-onnx."""

from __future__ import annotations

from pathlib import Path

import click

from gallery.cli.common import domain_errors, echo_json, settings_options


def _store(settings):
    from gallery.weights.store import WeightStore

    return WeightStore(settings.weights_dir, offline=settings.offline)


@click.group()
def weights():
    """Manage model weights: the registry, the local cache, air-gapped import.

    \b
    Example:
      gallery weights list
    """


@weights.command("list")
@click.option("--json", "as_json", is_flag=True)
@settings_options
def list_(as_json, settings):
    """List known weights with licence, source and cache state.

    \b
    Example:
      gallery weights list --json
    """
    store = _store(settings)
    rows = []
    for entry in store.registry.values():
        state = store.state(entry)
        rows.append({"name": entry.name, "kind": entry.kind, "file": entry.filename, "licence": entry.licence,
                     "source": entry.source, "sha256": entry.sha256 or entry.sha256_prefix,
                     "cached": state.present, "verified": state.verified, "detail": state.detail,
                     "description": entry.description})
    if as_json:
        echo_json(rows)
        return
    click.echo(f"weights cache: {store.root}")
    for row in rows:
        mark = "ok " if row["verified"] else ("BAD" if row["cached"] else " - ")
        click.echo(f"[{mark}] {row['name']:<22} {row['kind']:<13} {row['licence']}")
        click.echo(f"       {row['description']}")
        click.echo(f"       source: {row['source']}")


@weights.command()
@click.argument("names", nargs=-1)
@settings_options
def download(names, settings):
    """Download weights into the cache (default: those of the active profile).

    \b
    Example:
      gallery weights download clip-vit-b-16-openai iresnet100-ms1mv3
    """
    from tqdm import tqdm

    store = _store(settings)
    if not names:
        refs = [settings.profile.detector.weights] + [r for e in settings.profile.encoders for r in (e.weights, e.adapter) if r]
        names = [r for r in dict.fromkeys(refs) if r in store.registry]
    with domain_errors():
        for name in names:
            entry = store.entry(name)
            bar = tqdm(desc=name, unit="B", unit_scale=True, leave=True)

            def progress(done, total, bar=bar):
                bar.total = total
                bar.n = done
                bar.refresh()

            path = store.ensure(entry, progress)
            bar.close()
            click.echo(f"{name}: {path}")


@weights.command("import")
@click.argument("folder", type=click.Path(file_okay=False, exists=True))
@settings_options
def import_(folder, settings):
    """Copy weights files found in FOLDER (e.g. a USB stick) into the cache, checking each.

    Files are recognised by their file name or inside the insightface zip packs.

    \b
    Example:
      gallery weights import /media/usb/weights
    """
    with domain_errors():
        results = _store(settings).import_dir(Path(folder))
    if not results:
        raise click.ClickException(f"no known weights files under {folder}; `gallery weights list` shows the names")
    for name, outcome in results:
        click.echo(f"{name}: {outcome}")
    if any(outcome.startswith("REJECTED") for _, outcome in results):
        raise SystemExit(1)


@weights.command()
@settings_options
def verify(settings):
    """Check the sha256 of every cached weights file.

    \b
    Example:
      gallery weights verify
    """
    store = _store(settings)
    bad = 0
    for entry in store.registry.values():
        state = store.state(entry)
        if state.present:
            click.echo(f"{entry.name}: {'ok' if state.verified else 'FAILED'} ({state.detail})")
            bad += not state.verified
    if bad:
        raise SystemExit(1)


@weights.command()
@click.option("--pictures", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Calibrate on this folder's pictures instead of the collection's.")
@click.option("--json", "as_json", is_flag=True)
@settings_options
def quantize(pictures, as_json, settings):
    """Make the int8 forms of the profile's ONNX models and IResNet100 networks, calibrated on the
    collection's pictures.

    Each model is calibrated on up to `int8_pictures` pictures (a fifth held out), checked against
    fp32 on the held-out ones and cached beside its weights. --precision int8 then runs them; `auto`
    runs those whose check kept fp32's answers. Run it again to calibrate afresh.

    \b
    Examples:
      gallery weights quantize
      gallery weights quantize --pictures collection/sample --json
    """
    from gallery.admin.int8 import quantize_models

    with domain_errors():
        made = quantize_models(settings, pictures)
    if as_json:
        echo_json([m.to_json() for m in made])
        return
    for item in made:
        measured = item.measured
        if "mean_cosine" in measured:
            check = (f"cosine to fp32 on {measured['faces']} held-out faces: mean {measured['mean_cosine']:.4f}, "
                     f"worst {measured['min_cosine']:.4f}")
        else:
            check = (f"{measured['found']:.0%} of {measured['faces']} held-out faces found again, landmarks moved a "
                     f"median {measured['landmark_share_median']:.2%} of the box")
        verdict = "keeps fp32's answers: `auto` runs it" if item.kept else "does NOT keep fp32's answers: `auto` stays fp32"
        click.echo(f"{item.role}: {check}; {verdict}")
        click.echo(f"  -> {item.path or '(not cached: the weights folder cannot be written)'}")


@weights.command("convert-onnx")
@click.argument("onnx_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .pth (torch state dict).")
@click.option("--depth", default=100, show_default=True, help="IResNet depth of the ONNX model.")
def convert_onnx(onnx_file, out, depth):
    """Import an insightface IResNet ONNX file (e.g. glintr100.onnx) into a torch .pth for fine-tuning.

    \b
    Example:
      gallery weights convert-onnx glintr100.onnx --out iresnet100-glint360k.pth
    """
    import torch

    from gallery.faces.encoders.iresnet_io import import_onnx

    with domain_errors():
        model = import_onnx(Path(onnx_file), depth)
    torch.save(model.state_dict(), out)
    click.echo(f"IResNet{depth} weights from {onnx_file} -> {out}")
