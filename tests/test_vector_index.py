"""The FAISS vector index: search, ids, IVF, atomic save, checks and automatic rebuild, the
memory-mapped float16 store."""

from __future__ import annotations

import logging
import mmap

import numpy as np
import pytest

from gallery import vector_index
from gallery.vector_index import (IDS_FILE, INDEX_FILE, LEGACY_VECTORS, MANIFEST, VECTORS_FILE, IndexRule,
                                  VectorIndex, VectorIndexError, open_index, vectors_checksum)


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
    assert sorted(p.name for p in tmp_path.iterdir()) == [IDS_FILE, INDEX_FILE, MANIFEST, VECTORS_FILE]


def _mapped(array) -> bool:
    while array is not None:
        if isinstance(array, mmap.mmap):
            return True
        array = getattr(array, "base", None)
    return False


@pytest.mark.parametrize("factory", ["Flat", "IVF16,PQ4"])
def test_a_large_store_is_memory_mapped_and_searches_as_one_read_in(tmp_path, factory):
    vectors, queries = _unit(600, 16, seed=2), _unit(5, 16, seed=3)
    index = VectorIndex(16, factory, use_gpu=False)
    index.add(np.arange(600), vectors)
    index.save(tmp_path, "s")
    read_in = open_index(tmp_path, "s", 16, factory, use_gpu=False)
    mapped = open_index(tmp_path, "s", 16, factory, use_gpu=False, rule=IndexRule(map_bytes=600 * 16 * 2 - 1))
    assert read_in.health == mapped.health == "consistent"
    assert not _mapped(read_in.index.vectors) and _mapped(mapped.index.vectors)
    for got, want in zip(mapped.index.search(queries, 10), read_in.index.search(queries, 10)):
        assert np.array_equal(got, want)
    assert np.array_equal(mapped.index.vectors_for([5, 599]), read_in.index.vectors_for([5, 599]))

    # the mapped index grows, is saved over its own mapped file, and reopens as the one read in would
    for opened in (mapped, read_in):
        opened.index.add(np.arange(600, 650), _unit(50, 16, seed=4))
        opened.index.remove([3])
    mapped.index.save(tmp_path, "s")
    again = open_index(tmp_path, "s", 16, factory, use_gpu=False, rule=IndexRule(map_bytes=0))
    assert again.health == "consistent" and len(again.index) == 649
    for got, want in zip(again.index.search(queries, 10), read_in.index.search(queries, 10)):
        assert np.array_equal(got, want)


def test_building_in_chunks_changes_no_answer_and_no_checksum(monkeypatch):
    vectors, queries = _unit(300, 16, seed=5), _unit(4, 16, seed=6)
    whole = VectorIndex(16, "IVF8,Flat", use_gpu=False)
    whole.add(np.arange(300), vectors)
    expected, checksum = whole.search(queries, 10), vectors_checksum(whole.ids, whole.vectors)
    monkeypatch.setattr(vector_index, "CHUNK", 7)
    chunked = VectorIndex(16, "IVF8,Flat", use_gpu=False)
    chunked.add(np.arange(300), vectors)
    for got, want in zip(chunked.search(queries, 10), expected):
        assert np.array_equal(got, want)
    assert vectors_checksum(chunked.ids, chunked.vectors) == checksum


def test_the_earlier_single_file_store_is_read_and_then_written_as_two(tmp_path):
    index = VectorIndex(8, use_gpu=False)
    index.add([4, 5, 6], _unit(3, 8))
    index.save(tmp_path, "s")
    np.savez(tmp_path / LEGACY_VECTORS, ids=index.ids, vectors=index.vectors)  # as saved before
    (tmp_path / IDS_FILE).unlink()
    (tmp_path / VECTORS_FILE).unlink()
    opened = open_index(tmp_path, "s", 8)
    assert opened.health == "consistent" and opened.index.ids.tolist() == [4, 5, 6]
    opened.index.add([7], _unit(1, 8, seed=1))
    opened.index.save(tmp_path, "s")
    assert sorted(p.name for p in tmp_path.iterdir()) == [IDS_FILE, INDEX_FILE, MANIFEST, VECTORS_FILE]
    assert open_index(tmp_path, "s", 8).index.ids.tolist() == [4, 5, 6, 7]


def test_stored_arrays_of_the_wrong_kind_are_rebuilt_from_the_truth(tmp_path):
    index = VectorIndex(8, use_gpu=False)
    index.add([1, 2], _unit(2, 8))
    index.save(tmp_path, "s")
    np.save(tmp_path / VECTORS_FILE, index.vectors.astype(np.float32))  # same values, wrong type

    class Truth:
        def ids(self):
            return np.array([1, 2])

        def vectors(self):
            return np.array([1, 2]), index.vectors

    opened = open_index(tmp_path, "s", 8, truth=Truth())
    assert opened.health == "rebuilt" and "float16" in opened.detail
    assert open_index(tmp_path, "s", 8).health == "consistent"
