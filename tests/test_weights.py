"""The weights registry and cache: checksums, downloads (from a loopback server), offline, import."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
import zipfile
from functools import partial

import pytest

from gallery.core.errors import ChecksumMismatch, WeightsUnavailable
from gallery.weights.registry import REGISTRY, WeightEntry
from gallery.weights.store import WeightStore

PAYLOAD = b"pretend these are model weights\n" * 1000
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture()
def no_waiting(monkeypatch):
    """Failing fast means never sleeping and never waiting on the network; time on a busy machine
    says nothing about either, so the CPU time the call spent is what is bounded (< 1 s)."""
    import urllib.request

    def sleep(seconds):
        raise AssertionError(f"slept {seconds} s")

    monkeypatch.setattr(time, "sleep", sleep)
    opened = []
    real_urlopen = urllib.request.urlopen
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, *a, **k: (opened.append(url), real_urlopen(url, *a, **k))[1])
    started = time.process_time()
    yield opened
    assert time.process_time() - started < 1.0


@pytest.fixture()
def server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www, counting requests."""
    root = tmp_path / "www"
    root.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


def _entry(url, **kw):
    return WeightEntry(name="test-model", filename="model.bin", kind="detector", licence="test", description="t",
                       url=url, **kw)


def test_registry_entries_are_complete():
    for entry in REGISTRY.values():
        assert entry.licence and entry.description and entry.filename
        assert entry.url or entry.how_to_get, entry.name
    assert "non-commercial" in REGISTRY["scrfd-10g"].licence
    assert REGISTRY["clip-vit-b-16-openai"].licence.startswith("MIT")
    assert "CC BY-NC" in REGISTRY["artface-clip-lora"].licence


def test_download_verifies_and_cache_hit_rechecks(server, tmp_path):
    root, base, hits = server
    (root / "model.bin").write_bytes(PAYLOAD)
    entry = _entry(f"{base}/model.bin", sha256=SHA)
    store = WeightStore(tmp_path / "cache", registry={entry.name: entry})
    path = store.resolve(entry.name).path
    assert path.read_bytes() == PAYLOAD and len(hits) == 1
    assert store.resolve(entry.name).sha256 == SHA and len(hits) == 1  # hit: no second download
    path.write_bytes(PAYLOAD[:-1] + b"X")  # corrupted in the cache
    with pytest.raises(ChecksumMismatch, match="corrupt"):
        store.resolve(entry.name)


def test_download_with_wrong_checksum_leaves_nothing_in_cache(server, tmp_path):
    root, base, _ = server
    (root / "model.bin").write_bytes(PAYLOAD)
    entry = _entry(f"{base}/model.bin", sha256="0" * 64)
    store = WeightStore(tmp_path / "cache", registry={entry.name: entry})
    with pytest.raises(ChecksumMismatch):
        store.resolve(entry.name)
    assert not (tmp_path / "cache" / "model.bin").exists()


def test_unpublished_hash_is_pinned_at_first_download(server, tmp_path):
    root, base, _ = server
    (root / "model.bin").write_bytes(PAYLOAD)
    entry = _entry(f"{base}/model.bin")
    store = WeightStore(tmp_path / "cache", registry={entry.name: entry})
    path = store.resolve(entry.name).path
    assert (path.parent / "model.bin.sha256").read_text().strip() == SHA
    path.write_bytes(b"swapped")
    with pytest.raises(ChecksumMismatch, match="pinned at download"):
        store.resolve(entry.name)


def test_zip_member_and_prefix_checksum(server, tmp_path):
    root, base, _ = server
    with zipfile.ZipFile(root / "pack.zip", "w") as zf:
        zf.writestr("pack/model.bin", PAYLOAD)
    entry = _entry(f"{base}/pack.zip", member="model.bin", sha256_prefix=SHA[:8])
    store = WeightStore(tmp_path / "cache", registry={entry.name: entry})
    assert store.resolve(entry.name).path.read_bytes() == PAYLOAD


def test_offline_fails_fast_with_source_and_import_hint(tmp_path, no_waiting):
    store = WeightStore(tmp_path / "cache", offline=True)
    with pytest.raises(WeightsUnavailable) as err:
        store.resolve("clip-vit-b-16-openai")
    assert no_waiting == []  # offline: the network is never tried
    message = str(err.value)
    assert "ViT-B-16.pt" in message and "openaipublic" in message and "gallery weights import" in message


def test_unreachable_server_fails_fast(tmp_path, no_waiting):
    entry = _entry("http://127.0.0.1:9/model.bin", sha256=SHA)  # discard port: connection refused
    store = WeightStore(tmp_path / "cache", registry={entry.name: entry})
    with pytest.raises(WeightsUnavailable, match="Download failed"):
        store.resolve(entry.name)
    assert no_waiting == [entry.url]  # one attempt, no retry loop


def test_local_only_weights_say_how_to_get_them(tmp_path):
    store = WeightStore(tmp_path / "cache")
    with pytest.raises(WeightsUnavailable, match="gallery train clip-lora"):
        store.resolve("artface-clip-lora")
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        store.resolve(str(tmp_path / "nope.onnx"))


def test_import_from_a_stick_checks_and_copies(tmp_path):
    stick = tmp_path / "stick"
    (stick / "sub").mkdir(parents=True)
    good = _entry("http://x/model.bin", sha256=SHA)
    bad = WeightEntry(name="other", filename="other.bin", kind="detector", licence="t", description="t",
                      url="http://x/other.bin", sha256="1" * 64)
    packed = WeightEntry(name="zipped", filename="z.onnx", kind="detector", licence="t", description="t",
                         url="http://x/pack.zip", member="z.onnx", sha256=SHA)
    (stick / "sub" / "model.bin").write_bytes(PAYLOAD)
    (stick / "other.bin").write_bytes(b"wrong")
    with zipfile.ZipFile(stick / "pack.zip", "w") as zf:
        zf.writestr("pack/z.onnx", PAYLOAD)
    store = WeightStore(tmp_path / "cache", offline=True, registry={e.name: e for e in (good, bad, packed)})
    results = dict(store.import_dir(stick))
    assert results["test-model"].startswith("imported") and results["zipped"].startswith("imported")
    assert results["other"].startswith("REJECTED")
    assert (tmp_path / "cache" / "model.bin").read_bytes() == PAYLOAD
    assert not (tmp_path / "cache" / "other.bin").exists()
    assert store.resolve("zipped").sha256 == SHA


def test_real_shared_models_match_registry_hashes(models_dir, tmp_path):
    store = WeightStore(tmp_path / "cache", offline=True)
    results = dict(store.import_dir(models_dir))
    assert results["scrfd-500m"].startswith("imported") and results["yunet-2023mar"].startswith("imported")
    assert store.state(REGISTRY["scrfd-500m"]).verified is True


def test_profile_weights_check_lists_all_missing_in_under_a_second(tmp_path, no_waiting):
    from gallery.faces.pipeline import FacePipeline
    from gallery.config.settings import load_settings

    settings = load_settings(None, {"HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}, profile="artface")
    with pytest.raises(WeightsUnavailable) as err:
        FacePipeline(settings).check_weights()
    assert no_waiting == []
    assert str(err.value).count("\n  - ") == 5  # detector, CLIP, adapter, IResNet base, IResNet tuned
