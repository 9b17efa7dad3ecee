"""Building small collections from lfw-mini for the tests."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_sitters(lfw: Path, target: Path, sitters: int, skip_first: bool = False) -> list[Path]:
    """Copy the first `sitters` identities (4 images each) into target/<name>/; returns held-out images."""
    held_out = []
    for folder in sorted(p for p in lfw.iterdir() if p.is_dir())[:sitters]:
        images = sorted(folder.glob("*.jpg"))
        if skip_first:
            held_out.append(images[0])
            images = images[1:]
        (target / folder.name).mkdir(parents=True, exist_ok=True)
        for image in images:
            shutil.copy(image, target / folder.name / image.name)
    return held_out


def build_curated(lfw: Path, target: Path, known: int, unknown: int) -> None:
    """`known` identities with two portraits in their folder (labelled) and two more at the root
    (unlabelled), then `unknown` identities with all four portraits at the root, never labelled."""
    target.mkdir(parents=True)
    folders = sorted(p for p in lfw.iterdir() if p.is_dir())
    for folder in folders[:known]:
        images = sorted(folder.glob("*.jpg"))
        (target / folder.name).mkdir()
        for image in images[:2]:
            shutil.copy(image, target / folder.name / image.name)
        for image in images[2:]:
            shutil.copy(image, target / image.name)
    for folder in folders[known:known + unknown]:
        for image in folder.glob("*.jpg"):
            shutil.copy(image, target / image.name)
