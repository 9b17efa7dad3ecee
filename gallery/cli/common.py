"""Options every command shares, settings construction and error translation."""

from __future__ import annotations

import functools
import json
import os
import sys

import click

from gallery.config.device import PRECISIONS
from gallery.core.errors import GalleryError
from gallery.config.settings import Settings, load_settings


def settings_options(func):
    """--config and the settings flags; passes `settings` to the command."""

    @click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
                  help="Settings/profile file (TOML): detector, encoders, device, folders.")
    @click.option("--profile", default=None, help="Built-in profile: base or artface.")
    @click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Data folder.")
    @click.option("--weights-dir", type=click.Path(file_okay=False), default=None, help="Weights cache folder.")
    @click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None)
    @click.option("--precision", type=click.Choice(PRECISIONS), default=None,
                  help="auto (bf16 where the CPU has it, fp16 on CUDA), fp32, bf16, fp16 or int8 (CPU).")
    @click.option("--offline", is_flag=True, default=None, help="Never use the network for weights.")
    @click.option("--db", "db_url", default=None, metavar="URL",
                  help="Collection database (SQLAlchemy URL); default: SQLite in the data folder.")
    @functools.wraps(func)
    def wrapper(*args, config, profile, data_dir, weights_dir, device, precision, offline, db_url, **kwargs):
        with domain_errors():
            settings = load_settings(config, os.environ, profile=profile, data_dir=data_dir, weights_dir=weights_dir,
                                     device=device, precision=precision, offline=offline, db_url=db_url)
        return func(*args, settings=settings, **kwargs)

    return wrapper


class domain_errors:
    """Turn a GalleryError into a clean one-paragraph message and exit code 1."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None and isinstance(exc, GalleryError):
            raise click.ClickException(str(exc)) from exc
        return False


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def progress(total: int, label: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="img", file=sys.stderr, dynamic_ncols=True,
                disable=total <= 1 and not sys.stderr.isatty())


class LateBar:
    """A progress bar made on the first report, when the total is known; `close()` is safe when
    no report came."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None

    def __call__(self, done: int, total: int, **postfix) -> None:
        if self.bar is None:
            self.bar = progress(total, self.label)
        if postfix:
            self.bar.set_postfix(**postfix, refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


__all__ = ["LateBar", "Settings", "domain_errors", "echo_json", "progress", "settings_options"]
