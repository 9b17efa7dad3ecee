"""Hand-drawn and rejected faces (`gallery faces add | reject | restore`), on real models and faces:
searchable at once, kept through re-indexing, a changed file and a model upgrade; bad input refused
with nothing written."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.invoke import run_cli as _cli
from tests.conftest import write_profile

SITTERS = 6




def _json(*args) -> dict | list:
    return json.loads(_cli(*args, "--json").output)


def _counts(db: Path) -> dict[str, int]:
    with closing(sqlite3.connect(db)) as connection:
        return {t: connection.execute(f"select count(*) from {t}").fetchone()[0]
                for t in ("faces", "face_vectors", "identifications", "sitters")}


def _small_face_canvas(source: Path, target: Path, size=(3200, 2400), at=(1600, 1200), face=(30, 36)) -> tuple:
    """A large picture with one small face pasted into it: the detector misses it on the whole
    picture. Returns the pasted face's box as X,Y,W,H."""
    crop = Image.open(source).crop((70, 50, 180, 190)).resize(face, Image.LANCZOS)
    canvas = Image.new("RGB", size, (128, 104, 84))
    canvas.paste(crop, at)
    canvas.save(target, quality=95)
    return at[0] + 2, at[1] + 2, face[0] - 4, face[1] - 4


@pytest.fixture()
def collection(tmp_path, lfw_dir, onnx_profile):
    """SITTERS people with 3 photographs each (unlabelled) and one large picture whose small face
    (of the first person's 4th photograph) the detector misses."""
    folder = tmp_path / "collection"
    folder.mkdir()
    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[:SITTERS]
    for person in people:
        for image in sorted(person.glob("*.jpg"))[:3]:
            shutil.copy(image, folder / image.name)
    box = _small_face_canvas(sorted(people[0].glob("*.jpg"))[3], folder / "miniature.jpg")
    where = ["--data-dir", tmp_path / "data", "--config", onnx_profile]
    _cli("index", folder, *where)
    return folder, where, box, people, tmp_path / "data" / "gallery.db"


def _search(image: Path, where) -> dict:
    return _json("search", image, *where)


def _face_ids_in(found: dict) -> set[int]:
    ids = {a["face_id"] for c in found["candidates"] for a in c["artworks"]}
    return ids | {u["face_id"] for u in found["unidentified"]}


def test_a_drawn_face_is_searchable_at_once_and_survives_changes_and_upgrades(collection, models_dir, tmp_path):
    folder, where, box, people, db = collection
    miniature = folder / "miniature.jpg"
    assert _json("faces", miniature, *where[2:]) == []  # the detector misses it: the reason to draw it
    name = people[0].name.replace("_", " ")

    drawn = _json("faces", "add", miniature, "--box", ",".join(map(str, box)), "--sitter", name, "--new-sitter",
                  "--curator", "A. Curator", *where)
    assert drawn["landmarks_from"] == "detector" and drawn["sitter"] == name and drawn["face_index"] == 0
    query = sorted(people[0].glob("*.jpg"))[0]
    found = _search(query, where)
    assert found["candidates"][0]["sitter"] == name
    assert drawn["face_id"] in {a["face_id"] for a in found["candidates"][0]["artworks"]}

    drawn_counts = _counts(db)
    _cli("index", folder, *where)  # unchanged: the drawn face stays as it is
    assert _counts(db) == drawn_counts
    with closing(sqlite3.connect(db)) as connection:
        assert connection.execute("select origin, active from faces where id = ?", (drawn["face_id"],)).fetchone() \
            == ("drawn", 1)

    # the file changes: a scan at another resolution; the drawn face follows, with its identification
    Image.open(miniature).resize((4000, 3000), Image.LANCZOS).save(miniature, quality=95)
    _cli("index", folder, *where)
    with closing(sqlite3.connect(db)) as connection:
        rows = connection.execute("select id, box, origin from faces where artwork_id = (select artwork_id from "
                                  "faces where id = ?) and active = 1", (drawn["face_id"],)).fetchall()
    [(new_id, new_box, origin)] = rows
    assert origin == "drawn" and new_id != drawn["face_id"]
    assert np.allclose(json.loads(new_box), np.array(drawn["box"]) * 1.25, atol=1.0)
    found = _search(query, where)
    assert found["candidates"][0]["sitter"] == name
    assert new_id in {a["face_id"] for a in found["candidates"][0]["artworks"]}

    # a model upgrade (another detector: a new embedding set): aligned again from the stored landmarks
    upgraded = write_profile(tmp_path / "yunet.toml", models_dir, detector="yunet")
    where_new = ["--data-dir", where[1], "--config", upgraded]
    _cli("index", folder, *where_new)
    found = _search(query, where_new)
    assert found["candidates"][0]["sitter"] == name
    assert new_id in {a["face_id"] for a in found["candidates"][0]["artworks"]}
    status = _json("status", *where_new)
    assert status["faces_drawn"] == 1


def test_a_rejected_face_leaves_search_and_a_changed_file_does_not_bring_it_back(collection):
    folder, where, _box, people, db = collection
    image = sorted(people[1].glob("*.jpg"))[0]
    query = sorted(people[1].glob("*.jpg"))[1]
    [face] = [u["face_id"] for u in _search(image, where)["unidentified"] if u["score"] > 0.99]
    assert face in _face_ids_in(_search(query, where))

    rejected = _json("faces", "reject", face, "--curator", "A. Curator", *where)
    assert rejected["rejected"] and rejected["who"] == "A. Curator"
    assert face not in _face_ids_in(_search(query, where))
    clusters = _json("clusters", *where)
    assert face not in {f["face_id"] for c in clusters["clusters"] for f in c["faces"]}
    again = _cli("faces", "reject", face, *where, ok=False)
    assert "already rejected (by A. Curator" in again.output
    refused = _cli("curate", face, "confirmed", "--sitter", people[1].name.replace("_", " "), *where, ok=False)
    assert "rejected as not a face" in refused.output

    _cli("index", folder, *where)  # unchanged: still rejected
    assert face not in _face_ids_in(_search(query, where))
    Image.open(folder / image.name).save(folder / image.name, quality=80)  # the file changes: detected again
    _cli("index", folder, *where)
    assert _json("status", *where)["faces_rejected"] == 1
    with closing(sqlite3.connect(db)) as connection:
        [(current,)] = connection.execute("select id from faces where active = 1 and rejected_at is not null")
    assert current != face and current not in _face_ids_in(_search(query, where))  # detected again, still out
    restored = _json("faces", "restore", current, *where)
    assert not restored["rejected"]
    assert current in _face_ids_in(_search(query, where))
    assert "is not rejected" in _cli("faces", "restore", current, *where, ok=False).output


def test_bad_face_edits_are_refused_and_write_nothing(collection):
    folder, where, box, people, db = collection
    miniature = folder / "miniature.jpg"
    photo = folder / sorted(people[2].glob("*.jpg"))[0].name
    [detected] = _json("faces", photo, *where[2:])
    x1, y1, x2, y2 = detected["box"]
    _cli("faces", "reject", 1, *where)
    with closing(sqlite3.connect(db)) as connection:
        [(rejected_image,)] = connection.execute("select path from artworks where id = (select artwork_id from faces "
                                                 "where id = 1)")
    [rejected_box] = [f["box"] for f in _json("faces", rejected_image, *where[2:])[:1]]
    before = _counts(db)
    cases = {
        "empty box": ([miniature, "--box", "10,10,0,0"], "at least 8 x 8"),
        "outside": ([miniature, "--box", "5000,10,60,60"], "lies mostly outside the image, which is 3200 x 2400"),
        "not numbers": ([miniature, "--box", "a,b,c,d"], "four numbers"),
        "three numbers": ([miniature, "--box", "1,2,3"], "four numbers"),
        "not in the collection": ([folder.parent / "elsewhere.jpg", "--box", "1,2,30,30"], "is not in the collection"),
        "a face already there": ([photo, "--box", f"{x1},{y1},{x2 - x1},{y2 - y1}"], "is already there"),
        "a rejected face there": ([rejected_image, "--box", "{},{},{},{}".format(
            rejected_box[0], rejected_box[1], rejected_box[2] - rejected_box[0], rejected_box[3] - rejected_box[1])],
            "restore it with `gallery faces restore 1`"),
        "unknown sitter": ([miniature, "--box", ",".join(map(str, box)), "--sitter", "Nobody Known"],
                           "there is no sitter named"),
    }
    for case, (args, words) in cases.items():
        result = _cli("faces", "add", *args, *where, ok=False)
        assert words in result.output, (case, result.output)
    assert "there is no face 99999" in _cli("faces", "reject", 99999, *where, ok=False).output
    assert "there is no face 99999" in _cli("faces", "restore", 99999, *where, ok=False).output
    assert _counts(db) == before


def test_a_box_without_a_face_gets_landmarks_placed_in_it():
    from gallery.faces.drawn import BOX_LANDMARKS, BoxError, box_landmarks, checked_box, parse_box

    assert parse_box("10, 20, 30, 40") == (10.0, 20.0, 40.0, 60.0)
    with pytest.raises(BoxError):
        parse_box("10,20,nan,40")
    assert checked_box((-10, -10, 90, 90), (100, 100)) == (0.0, 0.0, 90.0, 90.0)  # clipped, mostly inside
    points = box_landmarks((100, 200, 200, 320))
    assert np.allclose(points, [100, 200] + BOX_LANDMARKS * [100, 120])
    assert points[0, 0] < points[1, 0] and points[0, 1] < points[2, 1] < points[3, 1]  # eyes, nose, mouth


def test_a_sitters_portrait_and_hiding(collection):
    folder, where, _box, people, db = collection
    name = people[3].name.replace("_", " ")
    faces = []
    for image in sorted(people[3].glob("*.jpg"))[:3]:
        found = _search(folder / image.name, where)
        faces.append(next(u["face_id"] for u in found["unidentified"] if u["score"] > 0.99))
    _cli("curate", faces[0], "confirmed", "--sitter", name, *where)
    _cli("curate", faces[1], "probable", "--sitter", name, *where)
    [listed] = [s for s in _json("sitters", "list", *where) if s["name"] == name]
    assert listed["portrait_face_id"] == faces[0] and not listed["portrait_chosen"]  # the confirmed one

    _cli("sitters", "edit", name, "--portrait", faces[1], *where)
    [listed] = [s for s in _json("sitters", "list", *where) if s["name"] == name]
    assert listed["portrait_face_id"] == faces[1] and listed["portrait_chosen"]
    _cli("dossier", name, "-o", folder.parent / "dossier.json", *where)
    assert json.loads((folder.parent / "dossier.json").read_text())["portrait_face_id"] == faces[1]
    query = sorted(people[3].glob("*.jpg"))[2]
    _cli("report", folder / query.name, "-o", folder.parent / "report.json", *where)
    _cli("report", folder / query.name, "-o", folder.parent / "report.csv", *where)
    [candidate] = [c for c in json.loads((folder.parent / "report.json").read_text())["candidates"]
                   if c["sitter"] == name]
    assert candidate["portrait_face_id"] == faces[1]  # the report names the likeness its dossier page shows
    rows = [r for r in csv.DictReader(open(folder.parent / "report.csv", encoding="utf-8")) if r["sitter"] == name]
    assert rows and all(r["portrait_face_id"] == str(faces[1]) for r in rows)
    refused = _cli("sitters", "edit", name, "--portrait", faces[2], *where, ok=False)  # not identified as the sitter
    assert "is not one of" in refused.output
    assert "face id or 'auto'" in _cli("sitters", "edit", name, "--portrait", "best", *where, ok=False).output
    _cli("faces", "reject", faces[1], *where)  # the chosen likeness leaves: the best remaining one is shown
    [listed] = [s for s in _json("sitters", "list", *where) if s["name"] == name]
    assert listed["portrait_face_id"] == faces[0]
    _cli("faces", "restore", faces[1], *where)

    before = _counts(db)
    _cli("sitters", "edit", name, "--hide", *where)
    assert name not in [s["name"] for s in _json("sitters", "list", *where)]
    assert name in [s["name"] for s in _json("sitters", "list", "--all", *where)]
    assert _json("search", folder / sorted(people[3].glob("*.jpg"))[2].name, *where)["candidates"][0]["sitter"] == name
    after = _counts(db)
    assert after == before  # hiding changes no record (a sitter event is written, no identification)
    _cli("sitters", "edit", name, "--show", *where)
    assert name in [s["name"] for s in _json("sitters", "list", *where)]

    from db.engine import open_database
    from db.sitters import find_sitters

    _cli("sitters", "edit", name, "--hide", *where)
    with open_database(f"sqlite:///{db}").session() as session:
        assert find_sitters(session, name.split()[0][:4]) == []  # a picker does not offer it as you type...
        assert [c.name for c in find_sitters(session, name)] == [name]  # ...only when its whole name is typed
