"""`gallery export linked-art`: each artwork shows a visual item that represents its sitters, every
identification an attribute assignment (who, when, status, evidence), disputed and rejected ones
kept as assignments only; the document expands with a JSON-LD processor (pyld) without loss."""

from __future__ import annotations

import json
import shutil

from tests.invoke import run_cli as _cli


CRM = "http://www.cidoc-crm.org/cidoc-crm/"




def test_linked_art_records_expand_without_loss(tmp_path, lfw_dir, onnx_profile):
    from gallery.reports.linked_art import POSSIBLY, expand, lost_in_expansion

    people = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[:2]
    folder = tmp_path / "collection"
    for person in people:
        (folder / person.name).mkdir(parents=True)
        for image in sorted(person.glob("*.jpg"))[:2]:
            shutil.copy(image, folder / person.name / image.name)
    names = [p.name.replace("_", " ") for p in people]
    (tmp_path / "sitters.csv").write_text(f"name,wikidata\n{names[0]},Q501\n")
    where = ["--data-dir", tmp_path / "data", "--config", onnx_profile]
    out = tmp_path / "records.jsonld"
    base = "https://museum.example/linked-art"
    refused = _cli("export", "linked-art", "-o", out, "--base", base, *where, ok=False)
    assert "no identification to state" in refused.output and not out.exists()

    _cli("sitters", "import", tmp_path / "sitters.csv", *where)
    _cli("index", folder, *where)
    _cli("export", "identifications", "-o", tmp_path / "ids.json", *where)
    faces = {(r["sitter"], r["path"].rsplit("/", 1)[1]): r["face_id"]
             for r in json.loads((tmp_path / "ids.json").read_text())["identifications"]}
    first_of_second = min(f for (s, _), f in faces.items() if s == names[1])
    second_of_first = max(f for (s, _), f in faces.items() if s == names[0])
    _cli("curate", first_of_second, "probable", "--sitter", names[1], "--curator", "anna", "--note", "the ear", *where)
    _cli("curate", second_of_first, "disputed", "--sitter", names[0], "--curator", "ben", *where)
    _cli("curate", second_of_first, "rejected", "--sitter", names[1], "--curator", "ben", *where)

    for bad in ("museum", " ", ":x"):
        assert "--base must be an absolute URI" in _cli("export", "linked-art", "-o", out, "--base", bad, *where,
                                                        ok=False).output
    assert not out.exists()
    assert "4 artwork record(s)" in _cli("export", "linked-art", "-o", out, "--base", base, *where).output
    document = json.loads(out.read_text())
    assert document["@context"] == "https://linked.art/ns/v1/linked-art.json"
    records = {r["id"]: r for r in document["@graph"]}
    assert all(r["type"] == "HumanMadeObject" and r["shows"][0]["type"] == "VisualItem" for r in records.values())

    def visual_of(face_id):
        return next(r["shows"][0] for r in records.values()
                    if any("Face " in a["referred_to_by"][0]["content"] and a["id"].startswith(
                        f"{base}/assignment/{face_id}-") for a in r["shows"][0]["attributed_by"]))

    probable = visual_of(first_of_second)
    assert [p["_label"] for p in probable["represents"]] == [names[1]]
    (assignment,) = probable["attributed_by"]
    assert assignment["classified_as"] == [POSSIBLY] and assignment["carried_out_by"] == [{"type": "Person",
                                                                                          "_label": "anna"}]
    assert assignment["assigned_property"] == "represents" and "Note: the ear" in \
        assignment["referred_to_by"][0]["content"]
    disputed = visual_of(second_of_first)
    assert "represents" not in disputed  # disputed and rejected: assignments only
    statuses = sorted(a["_label"].split()[0] for a in disputed["attributed_by"])
    assert statuses == ["Disputed", "Rejected"]
    confirmed = [r["shows"][0] for r in records.values() if r["shows"][0].get("represents")
                 and r["shows"][0]["represents"][0]["_label"] == names[0]]
    (person,) = confirmed[0]["represents"]
    assert person["equivalent"] == [{"id": "http://www.wikidata.org/entity/Q501", "type": "Person",
                                     "_label": names[0]}]

    # a JSON-LD processor reads every term (the vendored context's IRIs), offline
    assert lost_in_expansion(document) == []
    expanded = json.dumps(expand(document))
    for iri in ("E22_Human-Made_Object", "P65_shows_visual_item", "P138_represents", "P140i_was_attributed_by",
                "P177_assigned_property_of_type", "P141_assigned", "P82a_begin_of_the_begin"):
        assert CRM + iri in expanded
    assert f'"{CRM}P138_represents"' in expanded.replace(" ", "")  # assigned_property expands to the property
    broken = {**document, "@graph": [{**document["@graph"][0], "made_up": "x"}]}
    assert lost_in_expansion(broken) == ["/@graph/made_up"]  # the check can fail
