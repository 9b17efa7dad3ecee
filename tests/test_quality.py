"""Face quality (stored, shown, used as a floor) and flip averaging, with the real shared models."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageFilter

pytestmark = pytest.mark.slow


def _embedded(pipeline, rgb):
    from gallery.faces.images import LoadedImage

    [result] = list(pipeline.embed_cropped([pipeline.crop_image(LoadedImage("x", np.ascontiguousarray(rgb), "JPEG"))]))
    return result.faces[0]


def test_quality_falls_for_blurred_and_small_faces(onnx_pipeline, onnx_settings, lfw_dir):
    photos = sorted(lfw_dir.glob("*/*.jpg"))[::25]
    sharp, blurred, small = [], [], []
    for photo in photos:
        image = Image.open(photo).convert("RGB")
        sharp.append(_embedded(onnx_pipeline, np.asarray(image)).quality)
        blurred.append(_embedded(onnx_pipeline, np.asarray(image.filter(ImageFilter.GaussianBlur(4)))).quality)
        small.append(_embedded(onnx_pipeline, np.asarray(image.resize((90, 90)))).quality)
    floor = onnx_settings.quality_floor
    assert all(0.0 <= q <= 1.0 for q in sharp + blurred + small)
    assert np.median(sharp) > floor and np.median(blurred) < floor  # the floor separates them
    assert all(s > b for s, b in zip(sharp, blurred)) and np.median(small) < np.median(sharp)


def test_quality_is_stored_and_a_poor_query_is_flagged(indexed, onnx_pipeline, tmp_path):
    from sqlalchemy import select

    from db.schema import Face
    from gallery.search.service import SearchService

    settings, _service, held_out, database = indexed
    with database.session() as session:
        qualities = list(session.scalars(select(Face.quality).where(Face.active.is_(True))))
    assert qualities and all(q is not None and 0 <= q <= 1 for q in qualities)
    service = SearchService(onnx_pipeline, database, settings.index_dir, quality_floor=settings.quality_floor)
    good = service.search(held_out[0])
    assert good.query_quality > settings.quality_floor and not good.low_quality
    blurred = tmp_path / "blurred.jpg"
    Image.open(held_out[0]).filter(ImageFilter.GaussianBlur(5)).save(blurred)
    poor = service.search(blurred)
    assert poor.low_quality and poor.to_json()["low_quality"] is True
    assert all(a.quality is not None for c in good.candidates for a in c.artworks)


def test_evaluation_drops_low_quality_faces_and_reports_error_versus_reject(indexed, onnx_pipeline):
    from gallery.evaluation.evaluate import error_versus_reject, labelled_from_database

    settings, _service, _held_out, database = indexed
    key = onnx_pipeline.info().key
    everything = labelled_from_database(database, key, onnx_pipeline.layout)
    above = labelled_from_database(database, key, onnx_pipeline.layout, quality_floor=float(np.median(everything.quality)))
    assert len(above.labels) < len(everything.labels) and (above.quality >= np.median(everything.quality)).all()
    curve = error_versus_reject(everything)
    assert [row["rejected"] for row in curve][:2] == [0.0, 0.05] and curve[0]["faces"] == len(everything.labels)
    assert curve[-1]["eer"] <= curve[0]["eer"]  # dropping the poorest faces does not make it worse here


def test_flip_averaging_is_mirror_symmetric_and_its_own_embedding_set(onnx_pipeline, lfw_dir):
    from gallery.faces.align import ARCFACE_CROP, align_face
    from gallery.faces.images import LoadedImage

    encoder = onnx_pipeline.encoders[0]
    image = np.asarray(Image.open(sorted(lfw_dir.glob("*/*.jpg"))[3]).convert("RGB"))
    face = onnx_pipeline.detect(LoadedImage("x", image, "JPEG"))[0]
    crop = align_face(image, face.landmarks, ARCFACE_CROP)[None]
    mirror = np.ascontiguousarray(crop[:, :, ::-1])
    plain, _ = encoder.embed(crop)
    flipped, _ = encoder.embed(crop, flip=True)
    assert np.allclose(encoder.embed(mirror, flip=True)[0], flipped, atol=1e-5)  # the mirror gives the same vector
    assert not np.allclose(plain, flipped, atol=1e-3) and float(plain[0] @ flipped[0]) > 0.9
    info = onnx_pipeline.info()
    assert replace(info, flipped=("mobilefacenet",)).key != info.key  # flip averaging makes a new embedding set
