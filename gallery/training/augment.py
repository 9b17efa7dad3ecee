"""Augmentations suited to paintings: colour and greyscale jitter (varnish, fading, engravings),
horizontal flips (sitters are painted facing either way), a small affine (crop and pose), blur
(craquelure, soft reproductions). Applied to a batch of float tensors in [0, 1], seeded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AugmentSettings:
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.4
    hue: float = 0.05
    greyscale: float = 0.15  # probability
    flip: float = 0.5
    degrees: float = 8.0
    translate: float = 0.04
    scale: tuple[float, float] = (0.94, 1.06)
    blur: float = 0.2  # probability of a Gaussian blur


def build(settings: AugmentSettings):
    from torchvision.transforms import v2

    return v2.Compose([
        v2.RandomHorizontalFlip(settings.flip),
        v2.RandomAffine(settings.degrees, (settings.translate, settings.translate), settings.scale),
        v2.ColorJitter(settings.brightness, settings.contrast, settings.saturation, settings.hue),
        v2.RandomGrayscale(settings.greyscale),
        v2.RandomApply([v2.GaussianBlur(5, (0.1, 1.5))], p=settings.blur),
    ])


def augment_batch(transform, images):
    """Each image of an N x 3 x H x W batch augmented on its own (torch's global RNG, seeded)."""
    import torch

    return torch.stack([transform(image) for image in images])
