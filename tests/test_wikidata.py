"""`gallery export wikidata`: a QuickStatements batch of "depicts" with the face's relative position,
"presumably" short of confirmed, and artworks or sitters without Wikidata ids listed, not guessed."""

from __future__ import annotations

import json
import shutil

from tests.invoke import run_cli as _cli


def test_depicts_statements_with_position_and_presumably(tmp_path, lfw_dir, onnx_profile):
    from gallery.reports.wikidata import position, qid

    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[:3]
    folder = tmp_path / "collection"
    rows = ["file,wikidata"]
    for number, person in enumerate(people):
        (folder / person.name).mkdir(parents=True)
        for image in sorted(person.glob("*.jpg"))[:2]:
            shutil.copy(image, folder / person.name / image.name)
            item = "" if number == 2 else f"Q{1000 + len(rows)}"  # the third person's works have no item
            rows.append(f"{person.name}/{image.name},{item}")
    (tmp_path / "artworks.csv").write_text("\n".join(rows) + "\n")
    names = [p.name.replace("_", " ") for p in people]
    (tmp_path / "sitters.csv").write_text(f"name,wikidata\n{names[0]},Q501\n{names[1]},\n{names[2]},Q503\n")
    where = ["--data-dir", tmp_path / "data", "--config", onnx_profile]
    out = tmp_path / "depicts.txt"
    refused = _cli("export", "wikidata", "-o", out, *where, ok=False)  # an empty collection
    assert "nothing to state" in refused.output and not out.exists()

    _cli("index", folder, "--metadata", tmp_path / "artworks.csv", *where)
    _cli("sitters", "import", tmp_path / "sitters.csv", *where)
    faces = json.loads(_cli("sitters", "list", "--json", *where).output)
    first = next(s for s in faces if s["name"] == names[0])
    _cli("curate", first["portrait_face_id"], "probable", "--sitter", names[0], *where)

    result = _cli("export", "wikidata", "-o", out, *where)
    lines = out.read_text().splitlines()
    assert len(lines) == 2  # the first person's two works; the second has no item, the third's works have none
    statements = [line.split("\t") for line in lines]
    assert {s[0] for s in statements} == {"Q1001", "Q1002"} and {s[1:3] for s in map(tuple, statements)} == {
        ("P180", "Q501")}
    for s in statements:
        assert s[3] == "P2677" and s[4].startswith('"pct:') and s[4].endswith('"')
    presumably = [s for s in statements if s[5:] == ["P1480", "Q18122778"]]
    assert len(presumably) == 1  # the probable one
    assert "2 identified artwork(s) without a Wikidata id" in result.output
    assert f"sitter(s) without a Wikidata id (sitters CSV): {names[1]}" in result.output

    assert position((10, 20, 60, 120), 200, 400) == "pct:5,5,25,25"
    assert qid("https://www.wikidata.org/wiki/Q42") == "Q42" and qid("Q0") is None and qid("42") is None
