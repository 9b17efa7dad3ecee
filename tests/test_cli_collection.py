"""gallery index | status | sitters through the real command line, on the whole lfw-mini set."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_index_status_and_sitters_commands(gallery_cli, lfw_dir, onnx_profile, tmp_path):
    first = json.loads(gallery_cli("index", lfw_dir, "--config", onnx_profile, "--json").stdout)
    assert first["counts"]["new"] == 400 and first["counts"]["identifications_added"] == 400
    assert first["counts"]["faces_added"] >= 400 and first["errors"] == []  # background faces count too
    assert first["images_per_s"] > 0 and first["index_health"] == "missing"

    again = gallery_cli("index", lfw_dir, "--config", onnx_profile)
    assert "0 new, 0 changed, 0 moved, 0 embed, 400 unchanged" in again.stderr

    status = json.loads(gallery_cli("status", "--config", onnx_profile, "--json").stdout)
    assert (status["artworks"], status["sitters"], status["identified_faces"], status["errors"]) == (400, 100, 400, 0)
    [eset] = status["embedding_sets"]
    assert eset["active"] and eset["index_health"] == "consistent" and eset["faces"] == status["faces"]
    assert "unchanged since their save" in eset["index_detail"]  # the copy is not hashed again
    verifying = gallery_cli("status", "--config", onnx_profile, "--json", "--verify")
    [verified] = json.loads(verifying.stdout)["embedding_sets"]
    assert verified["index_health"] == "consistent" and "checksum verified" in verified["index_detail"]
    # chosen by size: exact search for a collection this small
    assert eset["index_choice"] == {"factory": "SQfp16", "nprobe": 0, "recall": 1.0, "faces": status["faces"], "probes": 0}
    assert eset["index"] == f"SQfp16 (exact), chosen at {status['faces']:,} faces"
    shown = gallery_cli("status", "--config", onnx_profile).stdout
    assert f"SQfp16 (exact), chosen at {status['faces']:,} faces" in shown
    assert status["last_run"]["counts"]["unchanged"] == 400

    sitters_csv = tmp_path / "sitters.csv"
    sitters_csv.write_text("name,birth_year,death_year,alternative_names,wikidata\n"
                           "Al Gore,1948,,Albert Arnold Gore Jr.,Q19673\n"
                           "Jan Six,1618,1700,,Q2076283\n"
                           "Nameless,abc,,,\n")
    imported = gallery_cli("sitters", "import", sitters_csv, "--config", onnx_profile)
    assert "2 sitter(s) created, 1 updated, 1 problem(s)" in imported.stdout
    assert "birth_year 'abc' is not a number" in imported.stderr
    listed = json.loads(gallery_cli("sitters", "list", "--search", "gore", "--json").stdout)
    assert listed == [{"id": listed[0]["id"], "name": "Al Gore", "alternative_names": ["Albert Arnold Gore Jr."],
                       "birth_year": 1948, "death_year": None, "external_ids": {"wikidata": "Q19673"},
                       "faces": 4, "artworks": 4, "portrait_face_id": listed[0]["portrait_face_id"],
                       "portrait_chosen": False, "hidden": False}]
    assert listed[0]["portrait_face_id"] is not None  # the best of its likenesses


def test_index_command_errors_are_one_clear_line(gallery_cli, onnx_profile, tmp_path):
    missing = gallery_cli("index", tmp_path / "nowhere", "--config", onnx_profile, check=False)
    assert missing.returncode != 0 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    bad_db = gallery_cli("status", "--db", "nosuchdriver://x", check=False)
    assert bad_db.returncode == 1 and "cannot use nosuchdriver://x" in bad_db.stderr
