"""A minimal ICC v2 matrix/TRC RGB profile written from its primaries, so colour tests need no
profile file: Adobe RGB (1998) with its published D50-adapted colorants and gamma 563/256."""

from __future__ import annotations

import struct

D50 = (0.9642, 1.0, 0.8249)
ADOBE_RGB = {"r": (0.60974, 0.31111, 0.01947), "g": (0.20528, 0.62567, 0.06087),
             "b": (0.14919, 0.06322, 0.74457), "gamma": 563 / 256}


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(xyz) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(_s15(v) for v in xyz)


def _desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return (b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text
            + bytes(4) + bytes(4) + bytes(2) + bytes(1) + bytes(67))


def rgb_profile(description: str, primaries: dict = ADOBE_RGB) -> bytes:
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(primaries["gamma"] * 256)) + bytes(2)
    tags = [(b"desc", _desc(description)), (b"cprt", b"text" + bytes(4) + b"no copyright\0"),
            (b"wtpt", _xyz(D50)), (b"rXYZ", _xyz(primaries["r"])), (b"gXYZ", _xyz(primaries["g"])),
            (b"bXYZ", _xyz(primaries["b"])), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    table, body = b"", b""
    offset = 128 + 4 + 12 * len(tags)
    for signature, data in tags:
        data += bytes(-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + bytes(4) + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + bytes(4) + bytes(4) + bytes(4) + bytes(4)
              + bytes(8) + struct.pack(">I", 0) + b"".join(_s15(v) for v in D50) + bytes(4) + bytes(16) + bytes(28))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def adobe_to_srgb(rgb) -> tuple[int, int, int]:
    """The sRGB value of an Adobe RGB (1998) 8-bit colour, computed from the two standards' matrices
    (an independent check of what LittleCMS does with the profile above)."""
    import numpy as np

    linear = (np.asarray(rgb, np.float64) / 255.0) ** ADOBE_RGB["gamma"]
    to_xyz = np.array([[0.5767309, 0.1855540, 0.1881852], [0.2973769, 0.6273491, 0.0752741],
                       [0.0270343, 0.0706872, 0.9911085]])
    to_srgb = np.array([[3.2404542, -1.5371385, -0.4985314], [-0.9692660, 1.8760108, 0.0415560],
                        [0.0556434, -0.2040259, 1.0572252]])
    out = np.clip(to_srgb @ (to_xyz @ linear), 0, 1)
    encoded = np.where(out <= 0.0031308, 12.92 * out, 1.055 * out ** (1 / 2.4) - 0.055)
    return tuple(int(round(v * 255)) for v in encoded)
