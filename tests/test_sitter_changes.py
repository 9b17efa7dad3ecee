"""The curated record: rename, edit, merge and delete sitters, each recorded; identifications stay
append-only; every current identification can leave the system as CSV or JSON."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture()
def record(indexed, gallery_cli, tmp_path):
    """A copy of the indexed collection, and a runner of `gallery` commands on it."""
    settings, _service, held_out, _db = indexed
    data = tmp_path / "data"
    shutil.copytree(settings.data_dir, data)

    def run(*args, check=True):
        return gallery_cli(*args, "--config", settings.config_file, "--data-dir", data, check=check)

    return run, held_out, data


def _sitters(run) -> dict:
    return {s["name"]: s for s in json.loads(run("sitters", "list", "--json").stdout)}


def test_merge_moves_identifications_and_keeps_history(record, onnx_pipeline):
    from db.engine import open_database
    from db.identifications import history
    from db.sitters import sitter_named
    from gallery.search.service import SearchService

    run, held_out, data = record
    source, target = (p.parent.name.replace("_", " ") for p in held_out[:2])
    before = _sitters(run)
    counted = json.loads(run("status", "--json").stdout)["sitters"]
    done = run("sitters", "merge", source, target, "--curator", "anna", "--note", "same man")
    assert json.loads(run("status", "--json").stdout)["sitters"] == counted - 1  # the merged one is not counted
    assert f"{before[source]['faces']} face(s) moved" in done.stdout
    after = _sitters(run)
    assert source not in after and after[target]["faces"] == before[source]["faces"] + before[target]["faces"]
    assert source in after[target]["alternative_names"]
    database = open_database(f"sqlite:///{data / 'gallery.db'}")
    with database.session() as session:
        assert sitter_named(session, source).name == target  # the old name still finds the sitter
        from db.schema import Identification, Sitter

        merged = session.query(Sitter).filter_by(name=source).one()
        face_id = session.query(Identification).filter_by(sitter_id=merged.id).first().face_id
        records = [(r.sitter.name, r.note, r.who) for r in history(session, face_id)]
    assert [name for name, _note, _who in records] == [source, target]  # nothing rewritten, one appended
    assert "merged from" in records[-1][1] and "same man" in records[-1][1] and records[-1][2] == "anna"
    service = SearchService(onnx_pipeline, database, data / "index")
    assert service.search(held_out[0]).candidates[0].sitter == target  # search sees the merge at once
    events = json.loads(run("sitters", "history", target, "--json").stdout)
    assert events[0]["kind"] == "merge" and events[0]["detail"]["from"] == source and events[0]["who"] == "anna"


def test_bad_merges_are_refused_and_change_nothing(record):
    run, held_out, _data = record
    name = held_out[0].parent.name.replace("_", " ")
    before = _sitters(run)
    for args, words in ((("Nobody At All", name), "there is no sitter named 'Nobody At All'"),
                        ((name, name), "are the same sitter"),
                        ((name, "Nobody At All"), "there is no sitter named")):
        refused = run("sitters", "merge", *args, check=False)
        assert refused.returncode == 1 and words in refused.stderr and "Traceback" not in refused.stderr, args
    assert _sitters(run) == before


def test_rename_edit_and_delete(record, tmp_path):
    run, held_out, _data = record
    first, second = (p.parent.name.replace("_", " ") for p in held_out[:2])
    run("sitters", "rename", first, f"{first} (the elder)", "--curator", "anna")
    sitters = _sitters(run)
    assert f"{first} (the elder)" in sitters and first in sitters[f"{first} (the elder)"]["alternative_names"]
    taken = run("sitters", "rename", f"{first} (the elder)", second, check=False)
    assert taken.returncode == 1 and "merge the two instead" in taken.stderr
    run("sitters", "edit", second, "--alias", "The Second", "--born", "1901", "--died", "1980")
    edited = _sitters(run)[second]
    assert (edited["alternative_names"], edited["birth_year"], edited["death_year"]) == (["The Second"], 1901, 1980)
    backwards = run("sitters", "edit", second, "--died", "1800", check=False)
    assert backwards.returncode == 1 and "before birth year" in backwards.stderr
    assert _sitters(run)[second]["death_year"] == 1980  # nothing of the refused edit was kept
    kept = run("sitters", "delete", second, check=False)
    assert kept.returncode == 1 and "never deleted" in kept.stderr
    (tmp_path / "new.csv").write_text("name,wikidata\nA Typo Sitter,Q1\n")
    run("sitters", "import", tmp_path / "new.csv")
    run("sitters", "delete", "A Typo Sitter", "--curator", "anna")
    assert "A Typo Sitter" not in _sitters(run)
    kinds = [e["kind"] for e in json.loads(run("sitters", "history", "--json").stdout)]
    assert kinds == ["delete", "edit", "rename"]


def test_export_identifications(record, tmp_path):
    run, held_out, _data = record
    name = held_out[0].parent.name.replace("_", " ")
    (tmp_path / "ids.csv").write_text(f"name,wikidata\n{name},Q42\n")
    run("sitters", "import", tmp_path / "ids.csv")
    identified = sum(s["faces"] for s in _sitters(run).values())
    run("export", "identifications", "-o", tmp_path / "out.json")
    rows = json.loads((tmp_path / "out.json").read_text())["identifications"]
    assert len(rows) == identified
    mine = [r for r in rows if r["sitter"] == name]
    assert mine and all(r["external_ids"] == {"wikidata": "Q42"} and len(r["box"]) == 4 and r["status"] == "confirmed"
                        and r["path"].endswith(".jpg") for r in mine)
    run("export", "identifications", "-o", tmp_path / "out.csv")
    table = list(csv.DictReader(open(tmp_path / "out.csv", encoding="utf-8")))
    assert [r["face_id"] for r in table] == [str(r["face_id"]) for r in rows]
    bad = run("export", "identifications", "-o", tmp_path / "out.xlsx", check=False)
    assert bad.returncode == 1 and "must end in .csv or .json" in bad.stderr and not (tmp_path / "out.xlsx").exists()


def test_a_merge_is_told_in_the_same_words_by_the_cli_and_the_page():
    from db.sitter_changes import merge_words

    moved = {"from": "Saskia", "into": "Saskia van Uylenburgh", "faces_moved": [1, 2], "faces_already_with_target": [3]}
    assert merge_words(moved) == ("Merged Saskia into Saskia van Uylenburgh: 2 face(s) moved, "
                                  "1 already identified with Saskia van Uylenburgh.")
