"""Images detected side by side (FacePipeline.each_image, gallery.core.in_order): the same answers
as one at a time, in the same order, each worker thread with a detector of its own."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from gallery.core.errors import ConfigError
from gallery.core.in_order import in_order


def test_results_come_in_the_items_order_with_bounded_look_ahead():
    drawn = []
    release = threading.Event()

    def items():
        for i in range(20):
            drawn.append(i)
            yield i

    def work(i):
        if i == 0:  # the first item finishes after the next one: order must not follow completion
            assert release.wait(60)
        if i == 1:
            release.set()
        return i * i

    stream = in_order(work, items(), workers=3, ahead=5)
    first = next(stream)
    assert first == (0, 0)
    assert len(drawn) == 5  # no more than `ahead` drawn before the first came back
    assert list(stream) == [(i, i * i) for i in range(1, 20)]


def test_a_failure_is_raised_at_its_item_and_the_rest_is_not_started():
    started = []

    def work(i):
        started.append(i)
        if i == 2:
            raise ValueError("item 2")
        return i

    stream = in_order(work, range(100), workers=2, ahead=4)
    assert [next(stream), next(stream)] == [(0, 0), (1, 1)]
    with pytest.raises(ValueError, match="item 2"):
        next(stream)
    assert max(started) < 10  # the pool was shut down, not run to the end


def test_one_worker_or_one_item_runs_in_the_callers_thread():
    for workers, items in ((1, range(3)), (4, range(1)), (4, range(0))):
        threads = {i: t for i, t in in_order(lambda i: threading.get_ident(), items, workers)}
        assert list(threads) == list(items) and set(threads.values()) <= {threading.get_ident()}
    threads = {t for _, t in in_order(lambda i: threading.get_ident(), range(6), workers=2)}
    assert threading.get_ident() not in threads


def test_detect_workers_must_be_zero_or_more(onnx_settings):
    with pytest.raises(ConfigError, match="detect_workers"):
        replace(onnx_settings, detect_workers=-1)


def test_only_scrfd_on_a_cpu_runs_side_by_side(onnx_settings, models_dir):
    from gallery.faces.pipeline import FacePipeline

    scrfd = FacePipeline(replace(onnx_settings, device="cpu", detect_workers=3))
    assert scrfd.detect_workers == 3
    yunet = replace(onnx_settings.profile, detector=replace(onnx_settings.profile.detector, kind="yunet"))
    assert FacePipeline(replace(onnx_settings, profile=yunet, detect_workers=3)).detect_workers == 1


def test_side_by_side_gives_what_one_at_a_time_gives(onnx_settings, lfw_dir):
    from gallery.config.device import cpu_cores
    from gallery.faces.pipeline import FacePipeline

    files = sorted(lfw_dir.rglob("*.jpg"))[:12]
    alone = FacePipeline(replace(onnx_settings, device="cpu", detect_workers=1))
    together = FacePipeline(replace(onnx_settings, device="cpu", detect_workers=2))
    one = list(alone.process_many(alone.load(f) for f in files))

    seen = {}

    def crop(image):
        seen[threading.get_ident()] = together.detector  # the worker's own, through the usual property
        return together.crop_image(image)

    both = list(together.each_image(crop, (together.load(f) for f in files)))
    assert [image.path for image, _ in both] == [str(f) for f in files]
    assert threading.get_ident() not in seen and 1 <= len(seen) <= 2
    own = list(seen.values())
    assert all(d is not together.detector for d in own) and len({id(d) for d in own}) == len(own)
    threads = {d.model.session.get_session_options().intra_op_num_threads for d in own}
    assert threads == {max(1, cpu_cores() // 2)}  # a share of the cores each

    two = list(together.process_many(together.load(f) for f in files))
    assert [r.path for r in two] == [r.path for r in one]
    for a, b in zip(one, two):
        assert len(a.faces) == len(b.faces)
        for fa, fb in zip(a.faces, b.faces):
            assert np.allclose(fa.face.box, fb.face.box, atol=1e-3)
            assert float(fa.vector @ fb.vector) > 0.9999


def test_an_int8_detector_only_in_memory_detects_one_image_at_a_time(onnx_settings, lfw_dir):
    """Calibrated here with a cache that could not be written, the int8 form exists only in the open
    detector's session: no worker may open the fp32 file (or none) in its place."""
    from gallery.faces.pipeline import FacePipeline
    from gallery.weights.derived import Derived

    files = sorted(lfw_dir.rglob("*.jpg"))[:3]
    pipeline = FacePipeline(replace(onnx_settings, device="cpu", detect_workers=2))
    pipeline._detector_source()
    pipeline.detector_int8 = Derived(None, "int8", {"kept": True})
    seen = {t for _, t in pipeline.each_image(lambda f: threading.get_ident(), files)}
    assert seen == {threading.get_ident()}
