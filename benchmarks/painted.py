"""A painted test bed anyone can rebuild: lfw-mini rendered as paintings.

There is no labelled set of painted portraits offline, so this renders each photograph of a
folder-per-sitter set as a "painting" with seeded transforms chosen from what paintings and their
reproductions do to faces. Each sitter's photographs are painted in different styles (one painting
per photograph), so two works of a sitter never share a style, as two portraits of a sitter by
different hands would not. The geometry is left alone (no warp), so a face is where it was.

The styles (`STYLES`), each with its parameters drawn from the seed:
- `oil`: edge-preserving smoothing into flat passages of paint, brush-stroke streaks
  along a random direction, canvas weave.
- `tempera`: bilateral smoothing and colour quantisation to 6-10 colours (k-means), canvas weave.
- `old-master`: `oil` under a yellowed, darkened varnish with lower contrast and a craquelure
  network (fine dark cracks of a random Voronoi-like pattern).
- `engraving`: greyscale line work: the luminance drawn as parallel hatch lines at an angle, thin
  where light, thick where dark, on warm paper.
- `reproduction`: a soft, faded reproduction: blur, sepia or faded colour, halftone dots, JPEG at
  low quality.
- `pastel`: soft edge-preserving filter, lifted and desaturated colours, paper grain.

    python benchmarks/painted.py ../shared/data/lfw-mini /tmp/lfw-painted --seed 0 \
        [--examples docs/images/painted-styles.jpg]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import cv2
import numpy as np

STYLES = ("oil", "tempera", "old-master", "engraving", "reproduction", "pastel")


def _canvas(shape, rng, strength):
    """A woven canvas texture: two sine gratings and grain, around 1."""
    h, w = shape[:2]
    period = rng.uniform(2.5, 4.0)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    weave = np.sin(2 * np.pi * x / period) * np.sin(2 * np.pi * y / period)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8)
    return (1.0 + strength * (0.6 * weave + 0.4 * grain))[..., None]


def _strokes(image, rng):
    """Streaks along one direction: motion-blurred noise modulating the paint."""
    h, w = image.shape[:2]
    length = int(rng.integers(5, 11))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    angle = rng.uniform(0, 180)
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rot, (length, length))
    kernel /= max(kernel.sum(), 1e-6)
    noise = cv2.filter2D(rng.normal(0, 1, (h, w)).astype(np.float32), -1, kernel)
    noise /= noise.std() + 1e-6
    return np.clip(image * (1.0 + rng.uniform(0.04, 0.08) * noise[..., None]), 0, 255)


def _cracks(shape, rng):
    """A craquelure mask (1 = paint, < 1 on cracks): the borders of random cells."""
    h, w = shape[:2]
    seeds = rng.uniform(0, [w, h], (int(rng.integers(60, 140)), 2)).astype(np.float32)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.sqrt((x[..., None] - seeds[:, 0]) ** 2 + (y[..., None] - seeds[:, 1]) ** 2)
    d.sort(axis=2)
    edge = (d[..., 1] - d[..., 0]) < rng.uniform(0.6, 1.0)
    return 1.0 - rng.uniform(0.2, 0.35) * cv2.GaussianBlur(edge.astype(np.float32), (0, 0), 0.5)[..., None]


def _oil(rgb, rng):
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    flat = cv2.edgePreservingFilter(bgr, flags=cv2.RECURS_FILTER, sigma_s=float(rng.uniform(15, 30)),
                                    sigma_r=float(rng.uniform(0.15, 0.3)))
    out = _strokes(cv2.cvtColor(flat, cv2.COLOR_BGR2RGB).astype(np.float32), rng)
    return out * _canvas(rgb.shape, rng, rng.uniform(0.04, 0.08))


def _tempera(rgb, rng):
    smooth = cv2.bilateralFilter(cv2.bilateralFilter(rgb, 9, 60, 7), 9, 60, 7)
    k = int(rng.integers(6, 11))
    pixels = smooth.reshape(-1, 3).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    _, labels, centres = cv2.kmeans(pixels, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    out = centres[labels.ravel()].reshape(rgb.shape)
    return out * _canvas(rgb.shape, rng, rng.uniform(0.03, 0.06))


def _old_master(rgb, rng):
    out = _oil(rgb, rng) / 255.0
    grey = out.mean(axis=2, keepdims=True)
    out = 0.7 * out + 0.3 * grey  # colours sunk under the varnish
    varnish = np.array([1.0, rng.uniform(0.78, 0.88), rng.uniform(0.45, 0.6)], np.float32)
    out = (0.1 + rng.uniform(0.75, 0.85) * out) * varnish
    return 255.0 * np.clip(out * _cracks(rgb.shape, rng), 0, 1)


def _engraving(rgb, rng):
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    grey = cv2.GaussianBlur(grey, (0, 0), 0.8)
    h, w = grey.shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = np.deg2rad(rng.uniform(20, 70))
    period = rng.uniform(2.2, 3.0)
    phase = ((x * np.cos(angle) + y * np.sin(angle)) / period) % 1.0
    line = np.abs(phase - 0.5) * 2  # 0 at a line's centre, 1 between lines
    ink = line < (1.0 - grey) * 1.1  # darker: wider lines
    paper = np.array([0.96, 0.93, rng.uniform(0.82, 0.88)], np.float32)
    lines = np.where(ink[..., None], np.array([0.12, 0.1, 0.09], np.float32), paper)
    tone = grey[..., None] * paper  # the plate's tone under the lines, as a print's ink wipe leaves it
    return 255.0 * cv2.GaussianBlur(0.6 * lines + 0.4 * tone, (0, 0), 0.6)


def _reproduction(rgb, rng):
    out = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), rng.uniform(1.2, 2.0)) / 255.0
    if rng.random() < 0.5:
        grey = out.mean(axis=2, keepdims=True)
        out = grey * np.array([1.07, 0.95, 0.78], np.float32)  # sepia
    else:
        out = 0.25 + 0.6 * (0.6 * out + 0.4 * out.mean(axis=2, keepdims=True))  # faded
    h, w = out.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    dots = 0.5 + 0.5 * np.sin(x * 1.9) * np.sin(y * 1.9)
    out = np.clip(out * (0.9 + 0.1 * dots[..., None]), 0, 1)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor((255 * out).astype(np.uint8), cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(12, 25))])
    return cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32)


def _pastel(rgb, rng):
    bgr = cv2.edgePreservingFilter(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), flags=1,
                                   sigma_s=float(rng.uniform(30, 60)), sigma_r=float(rng.uniform(0.3, 0.5)))
    out = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    out = 0.3 + 0.7 * (0.65 * out + 0.35 * out.mean(axis=2, keepdims=True))
    return 255.0 * np.clip(out * _canvas(rgb.shape, rng, rng.uniform(0.05, 0.09)), 0, 1)


_RENDER = {"oil": _oil, "tempera": _tempera, "old-master": _old_master, "engraving": _engraving,
           "reproduction": _reproduction, "pastel": _pastel}


def paint(rgb: np.ndarray, style: str, seed: int) -> np.ndarray:
    """An RGB uint8 image painted in `style`, its parameters drawn from `seed`."""
    if style not in _RENDER:
        raise ValueError(f"unknown style {style!r}; styles: {', '.join(STYLES)}")
    rng = np.random.default_rng(seed)
    return np.clip(_RENDER[style](np.ascontiguousarray(rgb), rng), 0, 255).astype(np.uint8)


def _seed(seed: int, text: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{text}".encode()).digest()[:4], "big")


def paint_folder(source: Path, out: Path, seed: int = 0) -> list[dict]:
    """Every photograph of a folder-per-sitter set painted once, a sitter's photographs each in a
    different style (a seeded shuffle of `STYLES` per sitter); returns what was painted how."""
    source, out = Path(source), Path(out)
    painted = []
    for sitter in sorted(p for p in source.iterdir() if p.is_dir()):
        photos = sorted(p for p in sitter.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        order = np.random.default_rng(_seed(seed, sitter.name)).permutation(len(STYLES))
        for i, photo in enumerate(photos):
            style = STYLES[order[i % len(STYLES)]]
            rgb = cv2.cvtColor(cv2.imread(str(photo), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            image = paint(rgb, style, _seed(seed, f"{sitter.name}/{photo.name}"))
            target = out / sitter.name / (photo.stem + ".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(target), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            painted.append({"photo": f"{sitter.name}/{photo.name}", "painting": f"{sitter.name}/{target.name}",
                            "style": style})
    return painted


def examples(source: Path, target: Path, sitters: int = 2, seed: int = 0) -> Path:
    """A strip per sitter: the photograph, then the same photograph in every style."""
    rows = []
    for sitter in sorted(p for p in Path(source).iterdir() if p.is_dir())[:sitters]:
        photo = sorted(p for p in sitter.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[0]
        rgb = cv2.cvtColor(cv2.imread(str(photo), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        crop = (slice(h // 5, h - h // 5), slice(w // 5, w - w // 5))  # the face, as the strip shows it
        tiles = [rgb] + [paint(rgb, style, _seed(seed, f"{sitter.name}/{photo.name}/{style}")) for style in STYLES]
        rows.append(np.concatenate([tile[crop] for tile in tiles], axis=1))
    strip = np.concatenate(rows, axis=0)
    target.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(target), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a folder per sitter of photographs (lfw-mini)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=Path, default=None,
                        help="also write a picture (PNG or JPEG): two sitters' photographs, then each in every style")
    args = parser.parse_args()
    if args.examples:
        print(f"examples -> {examples(args.source, args.examples, seed=args.seed)}")
    painted = paint_folder(args.source, args.out, args.seed)
    print(f"{len(painted)} paintings -> {args.out}")


if __name__ == "__main__":
    main()
