"""A corpus of hostile and damaged image files made from real faces, seeded so every run builds the
same files: bit flips, truncation, swapped headers, zeroed and repeated blocks, huge declared
dimensions, in JPEG (baseline and progressive), PNG, TIFF, WebP, BMP, GIF, JPEG 2000, HEIC and AVIF. Also the misbehaving
decoders the reader must survive (module-level, so spawned workers can import them)."""

from __future__ import annotations

import io
import os
import random
import signal
import struct
import time
import zlib
from pathlib import Path

from PIL import Image

FORMATS = {"jpg": dict(format="JPEG", quality=90), "prog.jpg": dict(format="JPEG", quality=80, progressive=True),
           "png": dict(format="PNG"), "tif": dict(format="TIFF", compression="tiff_lzw"),
           "webp": dict(format="WEBP", quality=80), "bmp": dict(format="BMP"), "gif": dict(format="GIF"),
           "jp2": dict(format="JPEG2000", irreversible=True, quality_mode="rates", quality_layers=[20]),
           "heic": dict(format="HEIF", quality=80), "avif": dict(format="AVIF", quality=70)}
HEADERS = {"jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "png": b"\x89PNG\r\n\x1a\n", "tif": b"II*\x00",
           "webp": b"RIFF\x00\x00\x00\x00WEBPVP8 ", "bmp": b"BM",
           "jp2": b"\x00\x00\x00\x0cjP  \r\n\x87\n", "heic": b"\x00\x00\x00\x18ftypheic"}


def _huge(data: bytes, suffix: str, width: int, height: int) -> bytes | None:
    """The same file declaring width x height pixels (checksums fixed so the header is believed)."""
    raw = bytearray(data)
    if suffix == "png":
        raw[16:24] = struct.pack(">II", width, height)
        raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])))
        return bytes(raw)
    if suffix.endswith("jpg"):
        for marker in (b"\xff\xc0", b"\xff\xc2"):
            at = raw.find(marker)
            if at > 0:
                raw[at + 5:at + 9] = struct.pack(">HH", min(height, 65535), min(width, 65535))
                return bytes(raw)
    if suffix == "bmp":
        raw[18:26] = struct.pack("<ii", width, height)
        return bytes(raw)
    if suffix == "jp2":
        at = raw.find(b"\xff\x4f\xff\x51")  # SOC, SIZ: Lsiz, Rsiz, Xsiz, Ysiz
        raw[at + 8:at + 16] = struct.pack(">II", width, height)
        header = raw.find(b"ihdr")  # the JP2 header box says the size too
        raw[header + 4:header + 12] = struct.pack(">II", height, width)
        return bytes(raw)
    return None


def build_corpus(faces: list[Path], target: Path, seed: int = 0) -> list[Path]:
    """Writes the corpus into `target`; returns the files (a few hundred for four faces)."""
    from gallery.faces.formats import register_plugins

    register_plugins()  # HEIC is written through pillow-heif
    rng = random.Random(seed)
    target.mkdir(parents=True, exist_ok=True)
    out = []

    def write(name: str, data: bytes) -> None:
        (target / name).write_bytes(data)
        out.append(target / name)

    for n, face in enumerate(faces):
        image = Image.open(face).convert("RGB")
        for suffix, options in FORMATS.items():
            buffer = io.BytesIO()
            image.save(buffer, **options)
            data = buffer.getvalue()
            stem = f"f{n}-{suffix.replace('.', '-')}"
            write(f"{stem}-intact.{suffix}", data)
            for flips in (1, 4, 16, 64):
                raw = bytearray(data)
                for _ in range(flips):
                    raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
                write(f"{stem}-flip{flips}.{suffix}", bytes(raw))
            for fraction in (0.02, 0.3, 0.7, 0.98):
                write(f"{stem}-cut{int(fraction * 100)}.{suffix}", data[:max(1, int(len(data) * fraction))])
            for other, header in HEADERS.items():
                if not suffix.endswith(other):
                    write(f"{stem}-as-{other}.{suffix}", header + data[len(header):])
            at = rng.randrange(len(data) // 4, len(data) // 2)
            write(f"{stem}-zeroed.{suffix}", data[:at] + bytes(len(data) // 8) + data[at + len(data) // 8:])
            write(f"{stem}-repeated.{suffix}", data[:at] + data[at:at + 4096] * 50 + data[at:])
            for width, height in ((65535, 65535), (20000, 15000), (1, 60000)):
                huge = _huge(data, suffix, width, height)
                if huge is not None:
                    write(f"{stem}-huge{width}x{height}.{suffix}", huge)
    write("empty.jpg", b"")
    write("text.png", b"not an image at all\n" * 20)
    write("random.jpg", bytes(rng.randrange(256) for _ in range(5000)))
    return out


# -- decoders that misbehave, for the reader's limits ---------------------------------------------
def misbehaving_read(path: str, known_sha256, max_pixels: int, reduce_to=None, regions=True):
    """read_file, except that a file named *spin* never finishes and one named *crash* kills its
    worker as a decoder crash would."""
    from indexer.reader import read_file

    name = Path(path).name
    if "spin" in name:
        while True:
            time.sleep(0.05)
    if "crash" in name:
        os.kill(os.getpid(), signal.SIGKILL)
    return read_file(path, known_sha256, max_pixels, reduce_to, regions)
