"""gallery train clip-lora | iresnet."""

from __future__ import annotations

from pathlib import Path

import click

from gallery.cli.common import domain_errors, settings_options


def _loop_options(func):
    for option in reversed([
        click.option("--collection", type=click.Path(file_okay=False), default=None,
                     help="Folder per sitter; without it, the database's confirmed faces (--db)."),
        click.option("--out", type=click.Path(file_okay=False), default=None,
                     help="Output folder (default: where the artface profile looks, in the weights folder)."),
        click.option("--steps", type=int, default=2000, show_default=True),
        click.option("--p", "p", type=int, default=16, show_default=True, help="Sitters per batch."),
        click.option("--k", "k", type=int, default=4, show_default=True, help="Faces per sitter in a batch."),
        click.option("--lr", type=float, default=None,
                     help="Peak learning rate (clip-lora 1e-4, iresnet 1e-5, onnx-lora 2e-4)."),
        click.option("--margin", type=float, default=0.2, show_default=True, help="Triplet margin (cosine)."),
        click.option("--eval-every", type=int, default=100, show_default=True),
        click.option("--patience", type=int, default=5, show_default=True,
                     help="Validations without a better EER before stopping."),
        click.option("--validation", type=float, default=0.2, show_default=True,
                     help="Fraction of sitters held out (sitter-disjoint)."),
        click.option("--seed", type=int, default=0, show_default=True),
    ]):
        func = option(func)
    return func


def _run(recipe, settings, collection, out, lr_default, options, **extra):
    from gallery.training.loop import TrainConfig
    from gallery.cli.common import progress

    lr = options.pop("lr") or lr_default
    config = TrainConfig(lr=lr, **options)
    bar = progress(config.steps, "training")
    bar.unit = "step"

    def tick(state):
        postfix = {"loss": f"{state.loss:.4f}"}
        if state.best_eer is not None:
            postfix["val_eer"] = f"{100 * state.best_eer:.1f}%"
        bar.set_postfix(postfix, refresh=False)
        bar.update(state.step - bar.n)

    with domain_errors():
        result, written = recipe(settings, Path(collection) if collection else None, Path(out) if out else None,
                                 config, on_progress=tick, **extra)
    bar.close()
    resumed = f" (resumed at step {result.resumed_from} of {result.steps})" if result.resumed_from else ""
    click.echo(f"{result.steps - result.resumed_from} steps in {result.seconds:.0f} s{resumed}; best validation EER "
               f"{100 * result.best_eer:.2f} % at step {result.best_step}{' (stopped early)' if result.stopped_early else ''} -> {written}")


@click.group()
def train():
    """Adapt the models to your labelled collection (the ArtFace recipe).

    \b
    Example:
      gallery train clip-lora --collection labelled/ --steps 2000
    """


@train.command("clip-lora")
@_loop_options
@click.option("--rank", type=int, default=16, show_default=True, help="LoRA rank.")
@click.option("--alpha", type=int, default=32, show_default=True, help="LoRA alpha.")
@click.option("--head-dim", type=int, default=512, show_default=True, help="Projection head size (0: none).")
@settings_options
def clip_lora(collection, out, rank, alpha, head_dim, settings, **options):
    """LoRA on the CLIP ViT-B/16 vision tower plus a projection head, batch-hard triplet loss.
    Resumes from the checkpoint in OUT/training when one is there.

    \b
    Example:
      gallery train clip-lora --collection labelled/ --out weights/artface-clip-lora
    """
    from gallery.faces.encoders.adapter import LoraSettings
    from gallery.training.recipes import train_clip_lora

    _run(train_clip_lora, settings, collection, out, 1e-4, options,
         lora=LoraSettings(rank=rank, alpha=alpha, head_dim=head_dim))


@train.command("iresnet")
@_loop_options
@click.option("--init", type=click.Choice(["base", "random"]), default="base", show_default=True,
              help="Start from the profile's IResNet100-base weights, or from random values.")
@click.option("--frozen-stages", type=click.IntRange(0, 4), default=2, show_default=True,
              help="Stages kept frozen (with the stem).")
@settings_options
def iresnet(collection, out, init, frozen_stages, settings, **options):
    """Fine-tune IResNet100 into the tuned component (batch-hard triplet loss).

    \b
    Example:
      gallery train iresnet --init base --collection labelled/ --frozen-stages 2
    """
    from gallery.training.recipes import train_iresnet

    _run(train_iresnet, settings, collection, out, 1e-5, options, init=init, frozen_stages=frozen_stages)


@train.command("onnx-lora")
@_loop_options
@click.option("--encoder", default=None, help="The profile's ONNX recogniser to adapt (default: its only one).")
@click.option("--rank", type=int, default=8, show_default=True, help="LoRA rank.")
@click.option("--alpha", type=int, default=16, show_default=True, help="LoRA alpha.")
@click.option("--targets", default="dense", show_default=True,
              help="Layers given adapters: dense (every convolution but depthwise, and linear layers), pointwise "
                   "(1x1 convolutions and linear layers), or a regular expression over layer names.")
@click.option("--head/--no-head", default=False, show_default=True,
              help="Add a square linear layer after the network, started at the identity.")
@click.option("--list-layers", is_flag=True,
              help="List the recogniser's convolution and linear layers, marking those --targets picks, and stop.")
@settings_options
def onnx_lora(collection, out, encoder, rank, alpha, targets, head, list_layers, settings, **options):
    """LoRA on the profile's ONNX recogniser (onnx2torch + peft), batch-hard triplet loss; the
    adapters are merged and written back into the ONNX model, checked against the trained one.
    OUT gets recogniser.onnx, adaptation.json (provenance) and profile.toml (use it as --config).
    Resumes from the checkpoint in OUT/training when one is there.

    \b
    Example:
      gallery train onnx-lora --config profile.toml --collection labelled/ --out adapted/ --steps 400
      gallery index /data/portraits --config adapted/profile.toml
    """
    from gallery.training.onnx_lora import OnnxLoraSettings
    from gallery.training.onnx_recipe import layers, train_onnx_lora

    if list_layers:
        with domain_errors():
            found = layers(settings, encoder, OnnxLoraSettings(targets=targets).targets)
        for name, text, chosen in found:
            click.echo(f"{'*' if chosen else ' '} {name:<48} {text}")
        click.echo(f"{sum(c for *_, c in found)} of {len(found)} layers picked by --targets {targets} (marked *)")
        return
    if not out:
        raise click.UsageError("onnx-lora needs --out, the folder for the adapted recogniser and its profile")
    with domain_errors():
        lora = OnnxLoraSettings(rank=rank, alpha=alpha, targets=targets, head=head)
    _run(train_onnx_lora, settings, collection, out, 2e-4, options, lora=lora, encoder=encoder)
