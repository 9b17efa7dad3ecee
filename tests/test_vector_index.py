"""The FAISS vector index: search, ids, IVF, atomic save, checks and automatic rebuild."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from gallery.vector_index import INDEX_FILE, MANIFEST, VectorIndex, VectorIndexError, open_index


def _unit(n, d, seed=0):
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_flat_search_returns_face_ids_by_inner_product():
    vectors = _unit(50, 16)
    index = VectorIndex(16, use_gpu=False)
    index.add(np.arange(1000, 1050), vectors)
    scores, ids = index.search(vectors[[7, 30]], 5)
    assert ids[:, 0].tolist() == [1007, 1030]
    assert np.allclose(scores[:, 0], 1.0, atol=1e-2)  # vectors are stored as float16
    brute = vectors @ vectors[7]
    assert ids[0].tolist() == (1000 + np.argsort(-brute)[:5]).tolist()
    assert np.allclose(index.vectors_for([1030]), vectors[30], atol=1e-3)


def test_duplicate_ids_wrong_dimension_and_removal():
    index = VectorIndex(8, use_gpu=False)
    index.add([1, 2, 3], _unit(3, 8))
    with pytest.raises(VectorIndexError, match="unique"):
        index.add([3], _unit(1, 8))
    with pytest.raises(VectorIndexError, match="dimension"):
        index.add([9], _unit(1, 4))
    assert index.remove([2, 99]) == 1 and len(index) == 2
    _, ids = index.search(_unit(1, 8, seed=5), 5)
    assert 2 not in ids[0] and sorted(i for i in ids[0] if i >= 0) == [1, 3]


def test_live_index_scores_exactly_as_a_rebuilt_one(tmp_path):
    index = VectorIndex(16, use_gpu=False)
    index.add(np.arange(20), _unit(20, 16))
    index.search(_unit(1, 16), 1)  # builds the FAISS index; the next add goes into it live
    index.add(np.arange(20, 40), _unit(20, 16, seed=4))
    queries = _unit(5, 16, seed=6)
    live = index.search(queries, 10)
    index.save(tmp_path, "s")
    (tmp_path / "index.faiss").unlink()
    rebuilt = open_index(tmp_path, "s", 16)
    assert rebuilt.health == "rebuilt"
    again = rebuilt.index.search(queries, 10)
    assert np.array_equal(live[1], again[1]) and np.array_equal(live[0], again[0])


def test_ivf_recall_against_flat():
    vectors = _unit(5000, 32, seed=1)
    flat, ivf = VectorIndex(32, "Flat", False), VectorIndex(32, "IVF64,Flat", False)
    for index in (flat, ivf):
        index.add(np.arange(5000), vectors)
    queries = _unit(50, 32, seed=2)
    _, want = flat.search(queries, 10)
    _, got = ivf.search(queries, 10)
    recall = np.mean([len(set(w) & set(g)) / 10 for w, g in zip(want, got)])
    assert recall > 0.6


def test_reopened_ivf_index_searches_as_before(tmp_path):
    vectors = _unit(3000, 32, seed=1)
    ivf = VectorIndex(32, "IVF32,Flat", False)
    ivf.add(np.arange(3000), vectors)
    queries = _unit(20, 32, seed=2)
    before = ivf.search(queries, 10)[1]
    ivf.save(tmp_path, "s")
    opened = open_index(tmp_path, "s", 32, "IVF32,Flat", use_gpu=False)
    assert opened.health == "consistent"
    assert np.array_equal(opened.index.search(queries, 10)[1], before)


def test_save_open_consistent_then_rebuilt_after_damage(tmp_path, caplog):
    vectors = _unit(40, 12)
    index = VectorIndex(12, use_gpu=False)
    index.add(np.arange(40), vectors)
    manifest = index.save(tmp_path / "set1", "set1")
    assert manifest.count == 40 and manifest.dim == 12
    opened = open_index(tmp_path / "set1", "set1", 12)
    assert opened.health == "consistent" and len(opened.index) == 40

    (tmp_path / "set1" / INDEX_FILE).write_bytes((tmp_path / "set1" / INDEX_FILE).read_bytes()[:100])  # truncated
    with caplog.at_level(logging.WARNING):
        opened = open_index(tmp_path / "set1", "set1", 12)
    assert opened.health == "rebuilt" and "rebuilt" in caplog.text
    assert opened.index.search(vectors[3], 1)[1][0, 0] == 3
    assert open_index(tmp_path / "set1", "set1", 12).health == "consistent"  # the rebuild was saved

    (tmp_path / "set1" / INDEX_FILE).unlink()
    assert open_index(tmp_path / "set1", "set1", 12).health == "rebuilt"
    (tmp_path / "set1" / MANIFEST).write_text("{not json")
    assert open_index(tmp_path / "set1", "set1", 12).health == "rebuilt"
    assert open_index(tmp_path / "nothing", "set1", 12).health == "missing"
    with pytest.raises(VectorIndexError, match="dimension"):
        open_index(tmp_path / "set1", "set1", 64)


def test_save_leaves_no_temporary_files(tmp_path):
    index = VectorIndex(4, use_gpu=False)
    index.add([1], _unit(1, 4))
    index.save(tmp_path, "s")
    assert sorted(p.name for p in tmp_path.iterdir()) == [INDEX_FILE, MANIFEST, "vectors.npz"]
