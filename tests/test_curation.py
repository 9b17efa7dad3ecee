"""The curator's workflow: add an image, review suggestions for unidentified faces, name clusters
of recurring unknown sitters. Real models (the shared ONNX ones) and real lfw-mini faces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
KNOWN, UNKNOWN = 8, 4  # lfw-mini identities: labelled (2 of 4 images in their folder), never labelled


def _identity(path: str) -> str:
    return Path(path).stem.rsplit("_", 1)[0]


@pytest.fixture()
def curated(lfw_dir, onnx_profile, onnx_pipeline, tmp_path):
    """KNOWN sitters with two labelled portraits each and two more unlabelled at the root, and
    UNKNOWN identities with all four portraits unlabelled: (settings, search service, root)."""
    from db.engine import open_database
    from gallery.search.service import SearchService
    from gallery.config.settings import load_settings
    from indexer.runner import index_collection
    from tests.collections import build_curated

    root = tmp_path / "collection"
    build_curated(lfw_dir, root, KNOWN, UNKNOWN)
    settings = load_settings(onnx_profile, {"HOME": str(tmp_path)}, data_dir=str(tmp_path / "data"), workers=0)
    index_collection(settings, root, pipeline=onnx_pipeline)
    database = open_database(settings.database_url)
    return settings, SearchService(onnx_pipeline, database, settings.index_dir), root


def test_suggestions_name_the_right_sitter_and_decisions_stick(curated):
    from db.identifications import current_identifications
    from gallery.curation.suggestions import SuggestionError, accept, for_faces, reject, store, suggest

    _settings, service, _root = curated
    found = suggest(service)
    # every unlabelled portrait's face, plus the background faces some photographs hold
    assert found.to_review >= 2 * KNOWN + 4 * UNKNOWN and found.without_suggestion == 0
    known = [s for s in found.suggestions if s.score >= 0.4 and s.face_index == 0]
    assert len(known) >= 2 * KNOWN - 2
    assert all(s.sitter.replace(" ", "_") == _identity(s.path) for s in known)  # confident ones are right
    assert [s.score for s in found.suggestions] == sorted((s.score for s in found.suggestions), reverse=True)

    top, second = found.suggestions[:2]
    assert accept(service, [top], "anna") == 1
    with service.database.session() as session:
        [record] = [c for c in current_identifications(session, [top.face_id])]
    assert (record.sitter_id, record.status, record.source, record.who) == (top.sitter_id, "confirmed", "curator",
                                                                            "anna")
    assert top.face_id not in {s.face_id for s in suggest(service).suggestions}
    with pytest.raises(SuggestionError, match="no pending suggestion"):  # accepting twice
        for_faces(service, [top.face_id])
    with pytest.raises(SuggestionError, match="identified meanwhile"):
        accept(service, [top, second], "anna")  # a stale list: nothing of it is recorded
    assert second.face_id in {s.face_id for s in suggest(service).suggestions}

    reject(service, [second], "anna")
    again = {s.face_id: s for s in suggest(service).suggestions}
    assert again.get(second.face_id) is None or again[second.face_id].sitter_id != second.sitter_id

    # stored suggestions are probable/model, never displace a record, and stay to review
    third = suggest(service).suggestions[0]
    assert store(service, [third]) == 1 and store(service, [third]) == 0
    with service.database.session() as session:
        [record] = current_identifications(session, [third.face_id])
    assert (record.status, record.source) == ("probable", "model")
    assert third.face_id in {s.face_id for s in suggest(service).suggestions}
    calibrated = suggest(service, min_score=0.99)
    assert all(s.score >= 0.99 for s in calibrated.suggestions)
    with pytest.raises(SuggestionError, match="calibration"):
        suggest(service, max_false_match=0.01)


def test_clusters_find_the_unknown_sitters_and_a_named_cluster_is_recorded(curated):
    from db.decisions import name_faces
    from db.identifications import IdentificationError, current_identifications
    from gallery.curation.clusters import ClusterError, ClusterParams, cluster_faces
    from gallery.curation.suggestions import suggest

    _settings, service, _root = curated
    found = cluster_faces(service)
    assert sum(len(c.faces) for c in found.clusters) + found.unclustered == suggest(service).to_review
    main = [c for c in found.clusters if all(f.face_index == 0 for f in c.faces)]
    pure = [c for c in main if len({_identity(f.path) for f in c.faces}) == 1]
    assert len(pure) >= len(main) - 1 and len(main) >= UNKNOWN
    big = [c for c in pure if len(c.faces) >= 3]
    assert len(big) >= UNKNOWN - 1  # the never-labelled identities come out (almost) whole
    payload = found.to_json()
    assert set(payload) >= {"clusters", "unclustered"}
    assert set(payload["clusters"][0]["faces"][0]) >= {"face_id", "path", "face_index"}
    assert all(len(c.faces) >= 3 for c in cluster_faces(service, ClusterParams(min_size=3)).clusters)
    with pytest.raises(ClusterError):
        ClusterParams(min_size=1)

    first = found.clusters[0]
    faces = [f.face_id for f in first.faces]
    with service.database.session() as session:
        with pytest.raises(IdentificationError, match="no sitter named"):
            name_faces(session, faces, "Nobody We Know", False, "anna")
    with service.database.session() as session:
        name_faces(session, faces[1:], "Unknown sitter A", True, "anna", "named as a cluster")
    with service.database.session() as session:
        records = current_identifications(session, faces)
    assert {r.face_id for r in records} == set(faces[1:]) and {r.source for r in records} == {"curator"}
    after = cluster_faces(service)
    assert not set(faces[1:]) & {f.face_id for c in after.clusters for f in c.faces}
    with service.database.session() as session, pytest.raises(IdentificationError, match="exists already"):
        name_faces(session, faces[:1], "Unknown sitter A", True, "anna")


def test_cluster_vectors_on_separable_groups():
    import numpy as np

    from gallery.curation.clusters import ClusterParams, cluster_vectors

    rng = np.random.default_rng(1)
    centres = rng.standard_normal((5, 64))
    vectors = np.concatenate([c + 0.15 * rng.standard_normal((6, 64)) for c in centres] + [rng.standard_normal((3, 64))])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = cluster_vectors(vectors.astype(np.float32), ClusterParams(min_size=2, neighbours=8, min_score=0.5))
    for group in range(5):
        assert len(set(labels[group * 6:(group + 1) * 6])) == 1 and labels[group * 6] >= 0
    assert len(set(labels[:30])) == 5 and (labels[30:] == -1).all()  # the loners stay unclustered
    assert (cluster_vectors(vectors[:1].astype(np.float32)) == -1).all()


def test_add_an_image_and_find_it_with_the_next_search(curated, lfw_dir, onnx_pipeline):
    from sqlalchemy import func, select

    from db.schema import Artwork
    from indexer.adding import AddError, add_image
    from gallery.core.errors import ImageLoadError
    from db.identifications import IdentificationError

    settings, service, _root = curated
    database = service.database
    stranger = sorted(sorted(p for p in lfw_dir.iterdir() if p.is_dir())[-1].glob("*.jpg"))
    data = stranger[0].read_bytes()

    def artworks():
        with database.session() as session:
            return session.scalar(select(func.count(Artwork.id)))

    before = artworks()
    with pytest.raises(IdentificationError, match="no sitter named"):
        add_image(settings, onnx_pipeline, database, data, "x.jpg", sitter="Nobody We Know")
    with pytest.raises(AddError, match="no face 3"):
        add_image(settings, onnx_pipeline, database, data, "x.jpg", sitter="Someone New", new_sitter=True, face=3)
    with pytest.raises(ImageLoadError):
        add_image(settings, onnx_pipeline, database, b"not an image", "x.jpg")
    assert artworks() == before  # nothing written by the refusals

    added = add_image(settings, onnx_pipeline, database, data, "stranger.jpg",
                      {"title": "Portrait of a stranger", "date": "c. 2002"}, "Someone New", True, None, "anna")
    assert not added.already_there and added.sitter == "Someone New" and artworks() == before + 1
    assert Path(added.path).is_relative_to(Path(settings.data_dir).resolve() / "added")
    result = service.search(stranger[1].read_bytes(), "other.jpg")
    assert result.candidates[0].sitter == "Someone New"  # searchable at once, through the same service
    same = service.search(data, "again.jpg")
    assert same.collection_face is not None and same.collection_face.face_id == added.face_ids[0]

    again = add_image(settings, onnx_pipeline, database, data, "copy.jpg")
    assert again.already_there and again.artwork_id == added.artwork_id and artworks() == before + 1
    with pytest.raises(IdentificationError, match="already confirmed"):
        add_image(settings, onnx_pipeline, database, data, "copy.jpg", sitter="Someone New")


def test_cli_add_suggest_and_clusters(curated, gallery_cli):
    settings, _service, root = curated
    args = ("--config", settings.config_file, "--data-dir", settings.data_dir)
    image = sorted(root.glob("*.jpg"))[0]

    refused = gallery_cli("add", image, "--sitter", "Nobody We Know", *args, check=False)
    assert refused.returncode == 1 and "no sitter named 'Nobody We Know'" in refused.stderr
    added = json.loads(gallery_cli("add", image, "--json", *args).stdout)
    assert added["already_there"] is True  # indexed from the collection folder already

    listed = json.loads(gallery_cli("suggest", "--json", *args).stdout)
    assert listed["suggestions"] and listed["calibrated"] is False
    face = listed["suggestions"][0]["face_id"]
    bulk = gallery_cli("suggest", "--accept", "all", *args, check=False)
    assert bulk.returncode == 2 and "state the bar" in bulk.stderr
    missing = gallery_cli("suggest", "--accept", "999999", *args, check=False)
    assert missing.returncode == 1 and "face 999999 has no pending suggestion" in missing.stderr
    done = gallery_cli("suggest", "--accept", str(face), "--curator", "anna", *args)
    assert f"face {face} as {listed['suggestions'][0]['sitter']}" in done.stdout
    twice = gallery_cli("suggest", "--accept", str(face), *args, check=False)
    assert twice.returncode == 1 and "nothing was recorded" in twice.stderr
    nothing = gallery_cli("suggest", "--accept", "all", "--min-score", "1.01", *args, check=False)
    assert nothing.returncode == 1 and "no suggestion meets the bar" in nothing.stderr

    found = json.loads(gallery_cli("clusters", "--min-size", "3", "--json", *args).stdout)
    assert found["clusters"] and all(len(c["faces"]) >= 3 for c in found["clusters"])
    first = found["clusters"][0]
    out = first["faces"][0]["face_id"]
    named = gallery_cli("clusters", "--min-size", "3", "--name", first["id"], "--sitter", "Unknown B",
                        "--new-sitter", "--without", out, "--curator", "anna", *args)
    assert f"{len(first['faces']) - 1} face(s) of cluster {first['id']} confirmed as Unknown B" in named.stdout
    bad = gallery_cli("clusters", "--name", "999", "--sitter", "Unknown B", *args, check=False)
    assert bad.returncode == 1 and "there is no cluster 999" in bad.stderr


def test_gallery_curate_records_each_decision_as_the_page_does(tmp_path):
    """`gallery curate` on a real collection (the one release 0.6.0 made, tests/data/releases):
    the page's decisions, through the same function and in the same words."""
    import shutil

    from click.testing import CliRunner

    from db.decisions import ACTIONS
    from db.engine import open_database
    from db.identifications import current_identifications, history
    from gallery.cli import main
    from gallery.cli.curation_commands import curate

    assert tuple(curate.params[1].type.choices) == ACTIONS
    data = tmp_path / "data"
    shutil.copytree(Path(__file__).parent / "data" / "releases" / "0.6.0" / "data", data)
    assert CliRunner().invoke(main, ["db", "upgrade", "--data-dir", str(data)]).exit_code == 0
    database = open_database(f"sqlite:///{data / 'gallery.db'}")
    with database.session() as session:
        standing = next(c for c in current_identifications(session)
                        if c.status == "confirmed" and c.source == "metadata")
        face, sitter = standing.face_id, standing.sitter

    def run(*args):
        return CliRunner().invoke(main, ["curate", str(face), *args, "--data-dir", str(data), "--curator", "anna"])

    disputed = run("disputed", "--sitter", sitter, "--note", "the costume is later")
    assert disputed.exit_code == 0, disputed.output
    assert disputed.output.strip() == f"Recorded on face {face}: disputed for {sitter} (by anna)."
    moved = run("reassign", "--sitter", "Unknown Donor", "--from-sitter", sitter)
    assert f"rejected for {sitter}, confirmed for Unknown Donor" in moved.output
    unknown = run("probable", "--sitter", "Someone", "--from-sitter", "Nobody We Know")
    assert unknown.exit_code == 1 and "there is no sitter named 'Nobody We Know'" in unknown.output
    refused = run("rejected", "--sitter", "Nobody We Know")  # rejecting a name the collection lacks
    assert refused.exit_code == 1 and "there is no sitter named" in refused.output
    with database.session() as session:
        records = [(r.sitter.name, r.status, r.who) for r in history(session, face)]
    assert records[-3:] == [(sitter, "disputed", "anna"), (sitter, "rejected", "anna"),
                            ("Unknown Donor", "confirmed", "anna")]
