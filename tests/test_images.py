"""Image loading: museum formats, orientation, colour modes, and clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gallery.core.errors import ImageLoadError
from gallery.faces.images import downscale_for_detection, load_image

CAP = 50_000_000


def _gradient(w=64, h=48):
    x = np.linspace(0, 255, w, dtype=np.float64)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float64)[:, None, None]
    return np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1)),
                           np.full((h, w, 1), 128.0)], axis=2).astype(np.uint8)


@pytest.mark.parametrize("ext,fmt", [("jpg", "JPEG"), ("png", "PNG"), ("tif", "TIFF"), ("webp", "WEBP"),
                                     ("bmp", "BMP")])
def test_formats_decode_to_rgb(tmp_path, ext, fmt):
    rgb = _gradient()
    path = tmp_path / f"a.{ext}"
    Image.fromarray(rgb).save(path, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    loaded = load_image(path, CAP)
    assert loaded.rgb.shape == (48, 64, 3) and loaded.rgb.dtype == np.uint8
    tolerance = 12 if fmt == "JPEG" else 0
    assert np.abs(loaded.rgb.astype(int) - rgb.astype(int)).max() <= tolerance


def test_16bit_tiff_rgb_and_grey_are_scaled_not_clipped(tmp_path):
    import cv2

    rgb16 = (_gradient().astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "rgb16.tif"), rgb16[:, :, ::-1])
    loaded = load_image(tmp_path / "rgb16.tif", CAP)
    assert np.abs(loaded.rgb.astype(int) - _gradient().astype(int)).max() <= 1
    grey16 = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.tif")
    grey = load_image(tmp_path / "g16.tif", CAP).rgb
    assert grey[-1, -1, 0] == 255 and grey[0, 0, 0] == 0 and 120 < grey[24, 32, 1] < 135


def test_exif_orientation_is_applied(tmp_path):
    img = Image.fromarray(np.zeros((40, 80, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    img.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg", CAP).rgb.shape == (80, 40, 3)


def test_cmyk_grey_and_alpha_become_rgb(tmp_path):
    Image.new("CMYK", (20, 10), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    red = load_image(tmp_path / "c.jpg", CAP).rgb
    assert red.shape == (10, 20, 3) and red[5, 5, 0] > 200 and red[5, 5, 1] < 60
    Image.new("L", (20, 10), 100).save(tmp_path / "g.png")
    assert load_image(tmp_path / "g.png", CAP).rgb[0, 0].tolist() == [100, 100, 100]
    Image.new("RGBA", (20, 10), (0, 0, 0, 0)).save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png", CAP).rgb[0, 0].tolist() == [255, 255, 255]  # transparent -> white


def test_bytes_upload_is_accepted(tmp_path):
    Image.fromarray(_gradient()).save(tmp_path / "u.png")
    assert load_image((tmp_path / "u.png").read_bytes(), CAP, name="upload.png").path == "upload.png"


@pytest.mark.parametrize("case", ["empty", "truncated", "text", "missing"])
def test_bad_files_raise_one_clear_error(tmp_path, case):
    path = tmp_path / "bad.jpg"
    if case == "empty":
        path.write_bytes(b"")
        expected = "empty"
    elif case == "truncated":
        Image.fromarray(_gradient(400, 300)).save(path, quality=95)
        path.write_bytes(path.read_bytes()[:2000])
        expected = "truncated"
    elif case == "text":
        path.write_text("this is a text file, not a painting\n")
        expected = "not an image"
    else:
        expected = "no such file"
    with pytest.raises(ImageLoadError) as err:
        load_image(path, CAP)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_pixel_bomb_is_refused_before_decoding(tmp_path):
    # a 30000 x 30000 PNG is tiny on disk but 900 Mpx when decoded
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
                     + chunk(b"IEND", b""))
    with pytest.raises(ImageLoadError) as err:
        load_image(path, max_pixels=100_000_000)
    assert "pixels" in str(err.value) and "bomb.png" in str(err.value)


def test_downscale_for_detection_keeps_aspect_and_reports_scale():
    big = np.zeros((3000, 4000, 3), np.uint8)
    small, scale = downscale_for_detection(big, 1000)
    assert small.shape == (750, 1000, 3) and scale == pytest.approx(0.25)
    same, one = downscale_for_detection(small, 2000)
    assert same is small and one == 1.0
