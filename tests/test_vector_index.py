"""The FAISS vector index: search, ids, IVF, atomic save, checks and automatic rebuild, the
memory-mapped float16 store."""

from __future__ import annotations

import logging
import mmap

import numpy as np
import pytest

from gallery.index import store
from gallery.index.choice import IndexRule
from gallery.index.files import IDS_FILE, INDEX_FILE, LEGACY_VECTORS, MANIFEST, VECTORS_FILE
from gallery.index.opening import open_index
from gallery.index.store import VectorIndexError, vectors_checksum
from gallery.index.vector_index import VectorIndex


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
    monkeypatch.setattr(store, "CHUNK", 7)
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

    opened = open_index(tmp_path, "s", 8, truth=_Truth([1, 2], index.vectors))
    assert opened.health == "rebuilt" and "float16" in opened.detail
    assert open_index(tmp_path, "s", 8).health == "consistent"


def test_a_mapped_store_stays_mapped_while_faces_are_added_removed_and_saved(tmp_path, monkeypatch):
    first = _unit(600, 16, seed=2)
    index = VectorIndex(16, use_gpu=False)
    index.add(np.arange(600), first)
    index.save(tmp_path, "s")
    opened = open_index(tmp_path, "s", 16, use_gpu=False, rule=IndexRule(map_bytes=0)).index
    monkeypatch.setattr(store, "CHUNK", 7)  # rows written and checksummed a few at a time
    for batch in range(3):  # as the indexer adds and retires faces batch by batch, saving now and then
        opened.add(np.arange(1000 + 10 * batch, 1010 + 10 * batch), _unit(10, 16, seed=10 + batch))
        assert opened.remove([3 * batch, 3 * batch + 1, 1000 + 10 * batch]) == 3
        assert _mapped(opened._vectors[0]) and len(opened._vectors) == 2  # the mapped rows untouched
        assert opened.search(first[3 * batch], 1)[1][0, 0] != 3 * batch
        opened.save(tmp_path, "s")
        assert _mapped(opened._vectors[0]) and len(opened._vectors) == 1  # the file just saved, mapped
    kept = [i for i in range(600) if not (i % 3 < 2 and i < 8)]
    assert len(opened) == len(kept) + 27 and np.isin(np.array(kept), opened.ids).all()
    assert np.allclose(opened.vectors_for([5, 1025]), np.stack([first[5], _unit(10, 16, seed=12)[5]]), atol=1e-3)
    with pytest.raises(VectorIndexError, match="not in the index"):
        opened.vectors_for([1])
    again = open_index(tmp_path, "s", 16, use_gpu=False)
    assert again.health == "consistent" and np.array_equal(again.index.ids, opened.ids)
    assert np.array_equal(again.index.vectors_for(opened.ids), opened.vectors_for(opened.ids))


@pytest.mark.parametrize("factory", ["Flat", "PQ4", "IVF16,Flat"])
def test_removal_in_place_keeps_a_trained_index_and_the_other_answers(factory):
    vectors, queries = _unit(2000, 16, seed=1), _unit(10, 16, seed=2)
    index = VectorIndex(16, factory, use_gpu=False)
    index.add(np.arange(2000), vectors)
    built = index.index
    _, before = index.search(queries, 10)
    gone = np.unique(before[:, :3])
    assert index.remove(gone) == len(gone)
    assert index.index is built  # in place: the same FAISS index, no training again
    _, after = index.search(queries, 10)
    assert not np.isin(after, gone).any()
    for row, now in zip(before.tolist(), after.tolist()):  # the rest of each answer, moved up
        kept = [i for i in row if i not in gone]
        assert now[:len(kept)] == kept and len(kept) >= 5


def test_an_ivf_index_saved_over_an_id_map_is_built_again_on_removal(tmp_path):
    import faiss

    vectors, queries = _unit(2000, 16, seed=1), _unit(10, 16, seed=2)
    index = VectorIndex(16, "IVF16,Flat", use_gpu=False)
    index.add(np.arange(2000), vectors)
    index.save(tmp_path, "s")
    earlier = faiss.IndexIDMap2(faiss.index_factory(16, "IVF16,Flat", faiss.METRIC_INNER_PRODUCT))
    earlier.train(vectors)
    earlier.add_with_ids(index.vectors.astype(np.float32), index.ids)
    faiss.write_index(earlier, str(tmp_path / INDEX_FILE))  # as earlier versions saved an IVF index
    opened = open_index(tmp_path, "s", 16, "IVF16,Flat", use_gpu=False).index
    assert isinstance(faiss.downcast_index(opened.index), faiss.IndexIDMap2)
    _, before = opened.search(queries, 10)
    gone = np.unique(before[:, :3])
    assert opened.remove(gone) == len(gone)
    assert isinstance(faiss.downcast_index(opened.index), faiss.IndexIVF)  # built again, holding its ids
    _, after = opened.search(queries, 10)
    assert not np.isin(after, gone).any() and (after >= 0).all()


class _Truth:
    """The database's side of an index, held in arrays."""

    def __init__(self, ids, vectors):
        self._ids, self._vectors = np.asarray(ids, np.int64), np.asarray(vectors, np.float16)
        self.asked: list[int] = []

    def ids(self):
        return np.sort(self._ids)

    def vectors(self):
        return self._ids, self._vectors

    def vectors_of(self, ids):
        self.asked += ids.tolist()
        keep = np.isin(self._ids, ids)
        return self._ids[keep], self._vectors[keep]


def test_an_index_behind_its_truth_is_caught_up_keeping_its_training(tmp_path, caplog):
    vectors = _unit(3000, 16, seed=1)
    index = VectorIndex(16, "IVF16,Flat", use_gpu=False)
    index.add(np.arange(3000), vectors[:3000])
    index.save(tmp_path, "s")
    centroids = faiss_centroids(index)
    # the database then retired faces 0-9 and added 3000-3099 before the index was saved again
    more = _unit(100, 16, seed=7)
    truth = _Truth(np.arange(10, 3100), np.concatenate([vectors[10:], more]))
    with caplog.at_level(logging.WARNING):
        opened = open_index(tmp_path, "s", 16, "IVF16,Flat", use_gpu=False, truth=truth)
    assert opened.health == "caught up" and "100 faces added and 10 removed" in opened.detail
    assert "caught up" in caplog.text and sorted(truth.asked) == list(range(3000, 3100))  # only what changed read
    assert np.array_equal(faiss_centroids(opened.index), centroids)
    assert np.array_equal(np.sort(opened.index.ids), np.arange(10, 3100))
    assert not np.isin(opened.index.search(vectors[:10], 5)[1], np.arange(10)).any()
    assert np.allclose(opened.index.vectors_for([3050]), more[50], atol=1e-3)
    assert opened.index.search(more[50], 1)[1][0, 0] == 3050
    assert open_index(tmp_path, "s", 16, "IVF16,Flat", use_gpu=False, truth=truth).health == "consistent"


def faiss_centroids(index):
    import faiss

    quantizer = faiss.downcast_index(faiss.extract_index_ivf(index.index).quantizer)
    return faiss.vector_to_array(quantizer.codes).copy()


def test_manifests_of_earlier_saves_are_still_verified(tmp_path):
    import json

    index = VectorIndex(8, use_gpu=False)
    index.add([9, 4, 6], _unit(3, 8))  # stored unsorted: the two orders' checksums differ
    index.save(tmp_path, "s")
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["order"] == "stored"
    assert vectors_checksum(index.ids, index.vectors, "sorted") != manifest["checksum"]
    del manifest["order"], manifest["written"]  # as earlier saves wrote it: sorted order, no files' stamps
    manifest["checksum"] = vectors_checksum(index.ids, index.vectors, "sorted")
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    assert open_index(tmp_path, "s", 8).health == "consistent"
    manifest["checksum"] = vectors_checksum(index.ids, index.vectors)  # the stored order, claimed to be sorted
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    assert open_index(tmp_path, "s", 8).health == "rebuilt"


def test_saved_files_take_the_folders_permissions(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    index = VectorIndex(8, use_gpu=False)
    index.add([1], _unit(1, 8))
    index.save(folder, "s")
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == \
        {name: 0o644 for name in (IDS_FILE, VECTORS_FILE, INDEX_FILE, MANIFEST)}


def test_an_open_hashes_the_copy_only_when_its_files_changed_or_when_asked(tmp_path):
    """The save checksums the copy as it writes it and records each file's size and modification
    time; an open trusts files that still have them, and hashes any others."""
    import json
    import os

    index = VectorIndex(8, use_gpu=False)
    index.add(np.arange(30), _unit(30, 8))
    index.save(tmp_path, "s")
    stamps = json.loads((tmp_path / MANIFEST).read_text())["written"]
    assert set(stamps) == {IDS_FILE, VECTORS_FILE}
    assert stamps[VECTORS_FILE][0] == (tmp_path / VECTORS_FILE).stat().st_size
    opened = open_index(tmp_path, "s", 8)
    assert opened.health == "consistent" and "unchanged since their save" in opened.detail
    assert "checksum verified" in open_index(tmp_path, "s", 8, verify=True).detail

    vectors = tmp_path / VECTORS_FILE
    saved = vectors.stat().st_mtime_ns
    damaged = bytearray(vectors.read_bytes())
    damaged[-4:] = bytes(4)  # the last vector's last two components zeroed; the size is the same
    vectors.write_bytes(bytes(damaged))
    os.utime(vectors, ns=(saved, saved))  # its modification time put back as it was
    assert open_index(tmp_path, "s", 8).health == "consistent"  # trusted: only size and time are checked
    assert open_index(tmp_path, "s", 8, verify=True).health == "rebuilt"  # the hash finds it

    index.save(tmp_path, "s")  # sound files again
    saved = vectors.stat().st_mtime_ns
    vectors.write_bytes(bytes(damaged))
    later = vectors.stat().st_mtime_ns
    os.utime(vectors, ns=(later, max(later, saved) + 1))  # as any later write leaves it (a coarse clock aside)
    opened = open_index(tmp_path, "s", 8)
    assert opened.health == "rebuilt" and "does not match" in opened.detail
