"""The pipeline's own onnxruntime paths: SCRFD decoded as insightface decodes it, a fixed batch
freed only where the outputs stay the same, the indexer's writer thread, and onnxruntime kept from
recording usage telemetry."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from gallery.core.errors import ModelError


def _bgr(path):
    import cv2

    return cv2.imread(str(path))


def test_scrfd_gives_insightface_boxes_and_landmarks(models_dir, lfw_dir, group_photo):
    from insightface.model_zoo import get_model

    from gallery.faces.scrfd import Scrfd

    weights = models_dir / "scrfd_500m.onnx"
    reference = get_model(str(weights), providers=["CPUExecutionProvider"])
    reference.prepare(ctx_id=-1, input_size=(640, 640), det_thresh=0.5)
    reference.nms_thresh = 0.4
    ours = Scrfd(weights, ["CPUExecutionProvider"], 640, 0.5, 0.4)
    images = [_bgr(p) for p in sorted(lfw_dir.rglob("*.jpg"))[:12]] + [_bgr(group_photo)]
    images.append(np.pad(images[0], ((80, 80), (0, 0), (0, 0))))  # taller than wide
    images.append(np.zeros((200, 300, 3), np.uint8))  # no face
    faces = 0
    for image in images:
        boxes, landmarks = ours.detect(image)
        expected_boxes, expected_landmarks = reference.detect(image, max_num=0, metric="default")
        assert boxes.shape == expected_boxes.shape
        np.testing.assert_allclose(boxes, expected_boxes, atol=1e-3)
        np.testing.assert_allclose(landmarks, expected_landmarks.reshape(-1, 5, 2), atol=1e-3)
        faces += len(boxes)
    assert faces >= 12 + 6  # the group photo holds several


def test_scrfd_refuses_a_model_that_is_not_a_detector(models_dir):
    from gallery.faces.scrfd import Scrfd

    with pytest.raises(ModelError, match="not an SCRFD detection model"):
        Scrfd(models_dir / "mobilefacenet.onnx", ["CPUExecutionProvider"], 640, 0.5, 0.4)


def test_fixed_batch_is_freed_with_the_same_vectors(models_dir):
    from gallery.faces.onnx_runtime import batch_freed, open_session, same_outputs

    path = models_dir / "mobilefacenet.onnx"
    fixed = open_session(path, ["CPUExecutionProvider"], "test")
    assert fixed.get_inputs()[0].shape[0] == 1
    freed = open_session(batch_freed(path), ["CPUExecutionProvider"], "test")
    crops = np.random.default_rng(1).uniform(-1, 1, (5, 3, 112, 112)).astype(np.float32)
    together = freed.run(None, {"input": crops})[0]
    alone = np.concatenate([fixed.run(None, {"input": crops[i:i + 1]})[0] for i in range(5)])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert same_outputs(fixed, freed, "input", (1, 3, 112, 112))
    # a model that really needs its batch of 1 is never trusted: a session that ignores the batch
    assert not same_outputs(fixed, fixed, "input", (1, 3, 112, 112))


def test_onnx_encoder_embeds_many_faces_per_run(onnx_pipeline):
    encoder = onnx_pipeline.encoders[0]
    assert encoder._fixed_batch is None  # freed: one run for a whole batch
    crops = np.random.default_rng(2).integers(0, 255, (4, 112, 112, 3), dtype=np.uint8)
    together = encoder.encode(crops)
    alone = np.concatenate([encoder.encode(crops[i:i + 1]) for i in range(4)])
    np.testing.assert_allclose(together, alone, atol=1e-5)


class _Recording:
    def __init__(self, fail_on: int | None = None):
        self.written: list = []
        self.fail_on = fail_on
        self.threads: set[str] = set()

    def write(self, batch):
        self.threads.add(threading.current_thread().name)
        if batch == self.fail_on:
            raise RuntimeError("disk full")
        self.written.append(batch)


def test_write_behind_writes_in_order_in_its_own_thread():
    from indexer.writer import WriteBehind

    writer, reported = _Recording(), []
    behind = WriteBehind(writer, reported.append)
    for batch in range(20):
        behind.put(batch)
    behind.close()
    assert writer.written == list(range(20)) == reported
    assert writer.threads == {"gallery-writer"}


def test_write_behind_raises_a_failed_write_and_writes_nothing_after_it():
    from indexer.writer import WriteBehind

    writer = _Recording(fail_on=3)
    behind = WriteBehind(writer)
    with pytest.raises(RuntimeError, match="disk full"):
        for batch in range(50):
            behind.put(batch)
        behind.close()
    assert writer.written == [0, 1, 2]


def test_index_saves_wait_longer_after_a_slow_save(tmp_path):
    from indexer.writer import SAVE_SHARE, Writer

    class Clock:
        now = 0.0

        def __call__(self):
            return self.now

    class SlowIndex:  # a save that takes 100 s, as a large index's does
        def __init__(self):
            self.saves: list[float] = []

        def save(self, folder, key):
            self.saves.append(clock.now)
            clock.now += 100.0

    clock, index = Clock(), SlowIndex()
    writer = Writer(None, tmp_path, 1, index, tmp_path, "set", save_every_s=60.0, clock=clock)
    for now in (30, 61, 200, 161 + 100 / SAVE_SHARE - 1, 161 + 100 / SAVE_SHARE + 1):
        clock.now = now
        writer._dirty = True  # as a written batch leaves it
        writer.save_when_due()
    assert index.saves == [61, 161 + 100 / SAVE_SHARE + 1]  # not at 30 s, nor within 10x the last save's time


# variables by which onnxruntime recognises a build machine and then collects nothing itself; a museum's
# machine has none, so the commands below run without them
CI_MARKERS = ("CI", "GITHUB_ACTIONS", "TF_BUILD", "JENKINS_URL", "GITLAB_CI", "CIRCLECI", "TRAVIS", "BUILDKITE",
              "CODEBUILD_BUILD_ID", "TEAMCITY_VERSION", "APPVEYOR", "ORT_RUNNING_UNIT_TESTS")


def _telemetry_files(env, home, *args) -> list[str]:
    """What `gallery ARGS` left of onnxruntime's telemetry store under a fresh home and cache."""
    env = {**{k: v for k, v in env.items() if k not in CI_MARKERS}, "HOME": str(home),
           "XDG_CACHE_HOME": str(home / "cache")}
    done = subprocess.run([sys.executable, "-m", "gallery", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "face" in done.stdout + done.stderr
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if "Microsoft" in p.parts)


def test_onnxruntime_keeps_no_device_id_or_usage_events(env, onnx_profile, lfw_dir, tmp_path):
    image = sorted(lfw_dir.rglob("*.jpg"))[0]
    args = ["faces", image, "--config", onnx_profile, "--weights-dir", tmp_path / "weights"]
    ours = {k: v for k, v in env.items() if k != "ORT_DISABLE_TELEMETRY"}
    assert _telemetry_files(ours, tmp_path / "ours", *args) == []
    # the same command with onnxruntime's own default: its wheels that collect write the store there
    collected = _telemetry_files({**ours, "ORT_DISABLE_TELEMETRY": "0"}, tmp_path / "default", *args)
    if not collected:
        pytest.skip("this onnxruntime keeps no telemetry store on this platform; nothing to turn off")
    assert any(name.endswith("deviceid") for name in collected)
