"""The vector index chosen by the collection's size ("auto"): exact while small, then IVF trained on
the collection's own vectors with nprobe tuned to a measured recall, chosen again as it grows;
both holding the stored float16 vectors exactly (SQfp16); its placement on a GPU."""

from __future__ import annotations

import numpy as np
import pytest

from gallery.index.choice import IndexRule
from gallery.index.opening import open_index
from gallery.index.vector_index import VectorIndex


def _clustered(n: int, d: int, seed: int = 0, families: int = 40) -> np.ndarray:
    """Face-like vectors: four per sitter around its centre, sitters grouped into look-alike
    families (so a face's neighbours beyond its own sitter are structured), unit length."""
    rng = np.random.default_rng(seed)
    family = rng.normal(size=(families, d))[rng.integers(0, families, n // 4 + 1)]
    centres = family + 0.9 * rng.normal(size=family.shape)
    vectors = np.repeat(centres, 4, axis=0)[:n] + 0.6 * rng.normal(size=(n, d))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _random(n: int, d: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, d))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _recall(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    stored = vectors.astype(np.float16).astype(np.float32)
    exact = np.argsort(-(queries @ stored.T), axis=1)[:, :k]
    _, found = index.search(queries, k)
    return float(np.mean([len(set(e) & set(f)) / k for e, f in zip(exact, found)]))


RULE = IndexRule(flat_max=2000, target_recall=0.99, growth=2.0, probes=200)


def test_a_small_collection_is_flat_and_exact():
    index = VectorIndex(32, "auto", False, RULE)
    index.add(np.arange(1500), _clustered(1500, 32))
    index.search(_clustered(1, 32, seed=9), 5)
    choice = index.choice
    assert choice.factory == "SQfp16" and choice.nprobe == 0 and choice.recall == 1.0 and choice.faces == 1500


def test_past_flat_max_an_ivf_is_tuned_to_the_recall_target_and_kept_on_disk(tmp_path):
    import faiss

    vectors = _clustered(8000, 32)
    index = VectorIndex(32, "auto", False, RULE)
    index.add(np.arange(8000), vectors)
    index.search(vectors[:1], 10)
    choice = index.choice
    assert choice.factory.startswith("IVF") and choice.factory.endswith(",SQfp16") and choice.faces == 8000
    assert choice.recall >= 0.99 and 1 <= choice.nprobe < int(choice.factory[3:].split(",")[0])
    # the recall holds on queries the tuning never saw (new faces of the same identities)
    fresh = _clustered(8000, 32, seed=0)[:400] + 0.05 * _clustered(400, 32, seed=3)
    fresh /= np.linalg.norm(fresh, axis=1, keepdims=True)
    assert _recall(index, vectors, fresh) >= 0.97
    index.save(tmp_path, "s")
    opened = open_index(tmp_path, "s", 32, "auto", False, rule=RULE)
    assert opened.health == "consistent" and opened.index.choice == choice
    assert faiss.extract_index_ivf(opened.index.index).nprobe == choice.nprobe
    assert not faiss.extract_index_ivf(opened.index.index).by_residual  # the stored values, not residuals


def test_the_choice_is_made_again_as_the_collection_grows():
    vectors = _clustered(7000, 32, seed=4)
    index = VectorIndex(32, "auto", False, RULE)
    index.add(np.arange(1500), vectors[:1500])
    index.search(vectors[:1], 5)
    assert index.choice.factory == "SQfp16"
    index.add(np.arange(1500, 3000), vectors[1500:3000])  # past flat_max
    index.search(vectors[:1], 5)
    assert index.choice.factory.startswith("IVF") and index.choice.faces == 3000
    index.add(np.arange(3000, 5000), vectors[3000:5000])  # grown less than twofold: the same index
    _, ids = index.search(vectors[4500:4501], 1)
    assert index.choice.faces == 3000 and ids[0, 0] == 4500  # new faces are searched all the same
    index.add(np.arange(5000, 7000), vectors[5000:])  # twofold: trained and tuned again
    index.search(vectors[:1], 5)
    assert index.choice.faces == 7000 and index.choice.recall >= 0.99


def test_an_index_saved_with_another_factory_is_rebuilt_as_auto(tmp_path):
    vectors = _clustered(3000, 16, seed=5)
    old = VectorIndex(16, "Flat", False)
    old.add(np.arange(3000), vectors)
    old.save(tmp_path, "s")
    opened = open_index(tmp_path, "s", 16, "auto", False, rule=RULE)
    assert opened.health == "rebuilt" and "Flat" in opened.detail
    assert opened.index.choice.factory.startswith("IVF")
    assert open_index(tmp_path, "s", 16, "auto", False, rule=RULE).health == "consistent"


def test_without_structure_to_exploit_the_choice_stays_exact():
    index = VectorIndex(32, "auto", False, RULE)
    index.add(np.arange(6000), _random(6000, 32))  # no neighbourhoods: IVF must scan nearly every list
    index.search(_random(1, 32, seed=2), 5)
    choice = index.choice
    assert choice.factory == "SQfp16" and choice.nprobe == 0 and choice.faces == 6000 and choice.probes == 200
    assert "over a quarter of its lists" in choice.describe()
    index.add(np.arange(6000, 8000), _random(2000, 32, seed=3))  # not grown twofold: not tried again
    assert index._index is not None and index.choice.faces == 6000


def test_rule_bounds_are_checked():
    from gallery.index.store import VectorIndexError

    for bad in (IndexRule(flat_max=-1), IndexRule(target_recall=1.5), IndexRule(growth=1.0), IndexRule(probes=5)):
        with pytest.raises(VectorIndexError):
            VectorIndex(8, "auto", False, bad)


def test_a_product_quantised_index_answers_with_exact_scores():
    vectors = _clustered(6000, 64, seed=6)
    exact, compressed = VectorIndex(64, "Flat", False), VectorIndex(64, "IVF64,PQ16", False)
    for index in (exact, compressed):
        index.add(np.arange(6000), vectors)
    assert compressed.compressed and not exact.compressed
    queries = _clustered(6000, 64, seed=6)[:100] + 0.1 * _random(100, 64, seed=7)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    (want_scores, want), (got_scores, got) = exact.search(queries, 10), compressed.search(queries, 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want, got)]) >= 0.9
    # every score returned is the exact inner product of the float16 vectors, best first
    stored = vectors.astype(np.float16).astype(np.float32)
    assert np.allclose(got_scores, np.einsum("qd,qkd->qk", queries, stored[got]), atol=1e-5)
    assert (np.diff(got_scores, axis=1) <= 1e-7).all()
    assert got[0, 0] == want[0, 0] and got_scores[0, 0] == pytest.approx(want_scores[0, 0], abs=1e-5)


def test_auto_holds_the_stored_float16_values_exactly_in_half_of_flats_bytes(tmp_path):
    vectors = _clustered(8000, 32, seed=8)
    queries = _clustered(8000, 32, seed=8)[:50] + 0.1 * _random(50, 32, seed=9)
    flat = VectorIndex(32, "Flat", False)
    flat.add(np.arange(8000), vectors)
    for rule in (RULE, IndexRule(flat_max=10_000)):  # as IVF lists, and as the exact index
        auto = VectorIndex(32, "auto", False, rule)
        auto.add(np.arange(8000), vectors)
        scores, ids = auto.search(queries, 10)
        assert auto.choice.factory.endswith("SQfp16")
        # the scores are those of the float16 vectors: the same as Flat's wherever both found a face
        stored = vectors.astype(np.float16).astype(np.float32)
        assert np.allclose(scores, np.einsum("qd,qkd->qk", queries, stored[ids]), atol=1e-5)
        if auto.choice.nprobe == 0:
            want_scores, want = flat.search(queries, 10)
            assert np.allclose(scores, want_scores, atol=1e-5) and (ids[:, 0] == want[:, 0]).all()
    flat.save(tmp_path / "flat", "s")
    auto.save(tmp_path / "auto", "s")
    flat_bytes, auto_bytes = ((tmp_path / name / "index.faiss").stat().st_size for name in ("flat", "auto"))
    assert auto_bytes < 0.6 * flat_bytes


def test_an_exact_auto_index_saved_as_float32_flat_is_built_again_as_float16(tmp_path):
    import json

    import faiss

    vectors = _clustered(1500, 16, seed=10)
    index = VectorIndex(16, "auto", False, RULE)
    index.add(np.arange(1500), vectors)
    want = index.search(vectors[:5], 5)
    index.save(tmp_path, "s")
    # as an earlier version saved it: a float32 Flat index, and that choice in the manifest
    earlier = faiss.IndexIDMap2(faiss.index_factory(16, "Flat", faiss.METRIC_INNER_PRODUCT))
    earlier.add_with_ids(vectors.astype(np.float16).astype(np.float32), np.arange(1500))
    faiss.write_index(earlier, str(tmp_path / "index.faiss"))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["chosen"]["factory"] = "Flat"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    opened = open_index(tmp_path, "s", 16, "auto", False, rule=RULE)
    assert opened.health == "rebuilt" and "(Flat) is built again as SQfp16" in opened.detail
    assert opened.index.choice.factory == "SQfp16" and opened.index.choice.faces == 1500
    got = opened.index.search(vectors[:5], 5)
    assert np.array_equal(got[1], want[1]) and np.allclose(got[0], want[0], atol=1e-6)
    again = open_index(tmp_path, "s", 16, "auto", False, rule=RULE)
    assert again.health == "consistent" and again.index.choice.factory == "SQfp16"


def test_the_exact_index_on_a_gpu_is_a_gpu_flat_one():
    from gallery.index.choice import exact_factory

    assert exact_factory(True) == "Flat" and exact_factory(False) == "SQfp16"


def _pretend_gpu(monkeypatch, places: bool) -> list:
    """FAISS as a GPU build would be, on this CPU one: placing an index on the 'GPU' clones it
    (or fails as FAISS does for a kind it has no GPU form of); the calls made, in order."""
    import faiss

    from gallery.index import placement

    calls = []

    def to_gpu(resources, device, index):
        calls.append("to_gpu")
        if not places:
            raise RuntimeError("Error in index_cpu_to_gpu: This index type is not implemented on GPU.")
        return faiss.clone_index(index)

    monkeypatch.setattr(placement, "gpu_available", lambda: True)
    monkeypatch.setattr(faiss, "StandardGpuResources", lambda: object(), raising=False)
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", to_gpu, raising=False)
    return calls


def test_an_index_faiss_cannot_place_on_the_gpu_is_searched_on_cpu(tmp_path, monkeypatch, caplog):
    calls = _pretend_gpu(monkeypatch, places=False)
    vectors = _clustered(500, 16, seed=11)
    index = VectorIndex(16, "HNSW16", use_gpu=True)
    assert index.use_gpu
    index.add(np.arange(500), vectors)
    with caplog.at_level("WARNING", logger="gallery.index.placement"):
        _, ids = index.search(vectors[:3], 1)
    assert list(ids[:, 0]) == [0, 1, 2] and calls == ["to_gpu"]
    assert "cannot place this IndexIDMap2 on the GPU" in caplog.text and "searched on CPU" in caplog.text
    index.save(tmp_path, "s")
    assert open_index(tmp_path, "s", 16, "HNSW16", use_gpu=True).health == "consistent"


def test_auto_on_a_gpu_is_flat_and_comes_back_to_cpu_as_float16(tmp_path, monkeypatch):
    calls = _pretend_gpu(monkeypatch, places=True)
    vectors = _clustered(1500, 16, seed=12)
    index = VectorIndex(16, "auto", True, RULE)
    index.add(np.arange(1500), vectors)
    want = index.search(vectors[:5], 5)
    assert index.choice.factory == "Flat" and calls == ["to_gpu"]
    index.save(tmp_path, "s")
    monkeypatch.setattr("gallery.index.placement.gpu_available", lambda: False)  # the folder moved to a CPU host
    opened = open_index(tmp_path, "s", 16, "auto", None, rule=RULE)
    assert opened.health == "rebuilt" and "(Flat) is built again as SQfp16, this version's exact index on CPU" \
        in opened.detail
    got = opened.index.search(vectors[:5], 5)
    assert np.array_equal(got[1], want[1]) and np.allclose(got[0], want[0], atol=1e-6)
