"""A command imports only what it uses: on a machine without CUDA, an ONNX profile never imports
torch, and the ONNX graph library is imported once to free a recogniser's batch, whose result is
cached beside the weights with its checksum (gallery.weights.derived)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

HEAVY = ("torch", "onnx", "gradio", "open_clip", "peft", "onnx2torch")


def _imported(env, *args) -> set[str]:
    """The heavy libraries `gallery ARGS` imported (python -X importtime), after checking it worked."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "gallery", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    names = {m.group(1) for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \| {1,2}(\w+)$", done.stderr, re.M)}
    return names & set(HEAVY)


def test_onnx_commands_import_neither_torch_nor_the_graph_library_once_cached(env, onnx_profile, lfw_dir,
                                                                                tmp_path):
    from gallery.config.device import cuda_driver_present

    if cuda_driver_present():
        pytest.skip("this machine has a CUDA driver: asking torch whether it sees the GPU is right here")
    image = sorted(lfw_dir.rglob("*.jpg"))[0]
    common = ["--config", onnx_profile, "--weights-dir", tmp_path / "weights"]
    assert _imported(env, "faces", image, *common) == set()
    assert _imported(env, "embed", image, "--out", tmp_path / "first.npz", *common) == {"onnx"}  # made once
    assert len(list((tmp_path / "weights" / "derived").glob("*.batch-free.onnx"))) == 1
    assert _imported(env, "embed", image, "--out", tmp_path / "again.npz", *common) == set()
    first, again = np.load(tmp_path / "first.npz"), np.load(tmp_path / "again.npz")
    assert np.abs(first["vectors"] - again["vectors"]).max() < 1e-5


def _encoder(onnx_settings, weights_dir):
    from gallery.config.device import resolve_placement
    from gallery.faces.encoders.onnx_encoder import OnnxEncoder
    from gallery.weights.store import WeightStore

    spec = onnx_settings.profile.encoders[0]
    return OnnxEncoder(spec, WeightStore(weights_dir, offline=True), resolve_placement("cpu", "fp32"))


def _crops(n: int = 3) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 255, (n, 112, 112, 3)).astype(np.uint8)


def test_the_freed_recogniser_is_cached_checked_and_made_again_when_damaged(onnx_settings, tmp_path, monkeypatch):
    from gallery.faces.encoders import onnx_encoder

    made = []
    real = onnx_encoder.batch_freed
    monkeypatch.setattr(onnx_encoder, "batch_freed", lambda path: made.append(path) or real(path))
    first = _encoder(onnx_settings, tmp_path)
    vectors = first.encode(_crops())
    assert len(made) == 1 and first._fixed_batch is None  # many crops a run
    second = _encoder(onnx_settings, tmp_path)
    assert np.abs(second.encode(_crops()) - vectors).max() < 1e-5
    assert len(made) == 1 and second._fixed_batch is None  # from the cache, not made again

    cached = next((tmp_path / "derived").glob("*.batch-free.onnx"))
    cached.write_bytes(cached.read_bytes()[:-16] + bytes(16))  # damaged on disk
    third = _encoder(onnx_settings, tmp_path)
    assert np.abs(third.encode(_crops()) - vectors).max() < 1e-5
    assert len(made) == 2  # its checksum no longer matched: made again


def test_a_model_whose_batch_cannot_be_freed_is_recorded_and_not_tried_again(onnx_settings, tmp_path, monkeypatch):
    from gallery.faces.encoders import onnx_encoder

    tries = []
    monkeypatch.setattr(onnx_encoder, "batch_freed", lambda path: tries.append(path))  # None: cannot be freed
    for _ in range(2):
        encoder = _encoder(onnx_settings, tmp_path)
        assert encoder.encode(_crops(5)).shape == (5, 128)  # runs of the fixed batch of 1
        assert encoder._fixed_batch == 1
    assert len(tries) == 1


def test_an_unwritable_cache_only_warns(onnx_settings, tmp_path, caplog):
    (tmp_path / "derived").write_text("a file where the cache folder would be")
    encoder = _encoder(onnx_settings, tmp_path)
    assert encoder.encode(_crops()).shape == (3, 128)
    assert encoder._fixed_batch is None  # freed in this process all the same
    assert "cannot cache the batch-free model" in caplog.text


def test_the_schema_revision_is_read_without_alembic_and_several_stamps_refused(tmp_path):
    from sqlalchemy import text

    from db.engine import DatabaseError, current_revision, open_database
    from db.version import SCHEMA_HEAD

    database = open_database(f"sqlite:///{tmp_path / 'gallery.db'}")
    assert current_revision(database.engine) == SCHEMA_HEAD
    with database.engine.begin() as connection:
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0005')"))
    with pytest.raises(DatabaseError, match="several schema revisions"):
        current_revision(database.engine)


def test_a_cache_write_that_fails_leaves_no_partial_file(tmp_path, monkeypatch, caplog):
    from pathlib import Path

    from gallery.weights import derived

    real = Path.write_bytes

    def disk_full(self, data):
        real(self, data[:10])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    made = derived.remember(tmp_path / "cache", "ab" * 32, "batch-free", b"x" * 100, "checked")
    assert made.path is None and list((tmp_path / "cache").iterdir()) == []  # the space given back
    assert "No space left" in caplog.text


_ENTRY = """
import gc, sys
from gallery.cli import entry
sys.argv = ["gallery", *sys.argv[1:]]
try:
    entry()
except SystemExit as done:
    print("exit", done.code, "frozen", gc.get_freeze_count(), file=sys.stderr)
"""


def test_the_command_as_a_process_freezes_its_objects_before_exit_and_keeps_its_exit_code(env):
    import gc

    from tests.invoke import run_cli

    def process(*args):
        done = subprocess.run([sys.executable, "-c", _ENTRY, *args], env=env, capture_output=True, text=True,
                              timeout=600)
        code, frozen = re.search(r"exit (\S+) frozen (\d+)", done.stderr).groups()
        return code, int(frozen)

    code, frozen = process("--version")
    assert code in ("0", "None") and frozen > 1000  # the interpreter's last collections skip them
    code, frozen = process("no-such-command")
    assert code == "2" and frozen > 1000  # a usage error keeps its exit code
    run_cli("--version")  # in this process, as tests run many commands: nothing frozen
    assert gc.get_freeze_count() == 0
