"""IIIF in and out: a collection of Presentation 2.1 and 3.0 manifests served on 127.0.0.1 is
indexed (with the faults of a real server), searched, re-imported without fetching again, and
its identifications exported as Web Annotations checked structurally."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from dataclasses import replace

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture()
def served(lfw_dir, onnx_profile, tmp_path):
    from gallery.config.settings import load_settings
    from tests.iiif_server import IiifServer

    folders = sorted(p for p in lfw_dir.iterdir() if p.is_dir())[:3]
    people = {f.name.replace("_", " "): sorted(f.glob("*.jpg"))[1:] for f in folders}  # first photo held out
    held_out = {f.name.replace("_", " "): sorted(f.glob("*.jpg"))[0] for f in folders}
    settings = load_settings(onnx_profile, {"HOME": str(tmp_path)}, data_dir=str(tmp_path / "data"), workers=0)
    settings = replace(settings, iiif_max_size=300, http_timeout_s=1.0)
    with IiifServer(people) as server:
        yield settings, server, people, held_out


def _fetcher(settings):
    from gallery.core.http import Fetcher, cache_dir_of

    # one retry only: the image that never answers costs two timeouts, not four
    return Fetcher(cache_dir_of(settings), settings.http_timeout_s, retries=1, backoff_s=0.1)


def test_import_search_reimport_and_export(served, onnx_pipeline, tmp_path):
    from db.engine import open_database
    from db.identifications import current_identifications
    from db.schema import Artwork, IngestError
    from db.sitters import SitterRecord, import_sitters
    from gallery.reports.annotations import annotated_manifest, annotation_pages, write_annotations
    from gallery.search.service import SearchService
    from indexer.iiif_import import index_iiif

    settings, server, people, held_out = served
    database = open_database(settings.database_url)
    source = f"{server.url}/collection.json"
    summary = index_iiif(settings, source, database=database, pipeline=onnx_pipeline, fetcher=_fetcher(settings))
    photos = sum(len(p) for p in people.values())
    assert summary.manifests == photos + 3 and summary.canvases == photos + 3  # + the three broken objects
    assert summary.downloaded == photos == server.image_bodies
    problems = dict(summary.problems)
    assert "HTTP 404" in problems[f"{server.url}/canvas/gone"]
    assert "no answer within 1 s" in problems[f"{server.url}/canvas/slow"]
    assert "text/html, not an image" in problems[f"{server.url}/canvas/html"]
    assert "not valid JSON" in problems[f"{server.url}/manifest/malformed.json"]
    with database.session() as session:
        artworks = {a.path: a for a in session.query(Artwork)}
        errors = {(e.path, e.stage) for e in session.query(IngestError)}
        current = current_identifications(session)
    assert len(artworks) == photos and summary.indexed.counts["new"] == photos
    assert {(f"{server.url}/canvas/gone", "fetch"), (f"{server.url}/manifest/malformed.json", "iiif")} <= errors
    first = artworks[f"{server.url}/canvas/img0"]  # a 3.0 object: metadata in language maps
    assert first.title == f"Portrait of {next(iter(people))}" and first.date == "c. 2002"
    assert first.accession_number == "PG-img0" and first.collection == source
    assert first.extras["iiif"]["manifest"] == f"{server.url}/manifest/img0.json"
    assert first.extras["iiif"]["canvas_width"] == 500 and (first.width, first.height) == (300, 300)
    assert first.extras["requiredStatement"] == "Attribution: Test Museum" and "navDate" in first.extras
    assert first.extras["Vervaardiger"] == "onbekend"  # a label the defaults do not know stays an extra
    v2 = artworks[f"{server.url}/canvas/img{len(people[next(iter(people))])}"]
    assert v2.artist == "Studio of the test" and v2.extras["attribution"] == "Test Museum"
    assert len({c.face_id for c in current}) == photos  # each object's sitter from its metadata

    service = SearchService(onnx_pipeline, database, settings.index_dir)
    from gallery.core.iiif import decode_content_state

    for sitter, photo in held_out.items():
        result = service.search(photo)
        assert result.candidates[0].sitter == sitter
        work = result.candidates[0].artworks[0]
        assert work.path.startswith(f"{server.url}/canvas/")
        # a Content State link that opens the face's region of the canvas, in its manifest
        viewer, encoded = work.iiif_link.split("?iiif-content=")
        assert viewer == "https://theseusviewer.org/" and "=" not in encoded and "+" not in encoded
        state = decode_content_state(encoded)
        assert state["motivation"] == ["contentState"] and state["type"] == "Annotation"
        canvas, fragment = state["target"]["id"].split("#")
        assert canvas == work.path and state["target"]["type"] == "Canvas"
        assert state["target"]["partOf"][0]["id"].startswith(f"{server.url}/manifest/")
        x, y, w, h = map(int, re.fullmatch(r"xywh=(\d+),(\d+),(\d+),(\d+)", fragment).groups())
        assert w > 40 and h > 40 and x + w <= 502 and y + h <= 502  # on the 500 px canvas

    # re-import: nothing downloaded again (the server's ETag answers 304), nothing decoded again
    again = index_iiif(settings, source, database=database, pipeline=onnx_pipeline, fetcher=_fetcher(settings))
    assert again.downloaded == 0 and server.image_bodies == photos
    assert again.indexed.counts.get("unchanged") == photos and not again.indexed.counts.get("new")
    # a canvas taken out of its manifest is marked missing, not erased
    server.removed.add("img1")
    third = index_iiif(settings, source, database=database, pipeline=onnx_pipeline, fetcher=_fetcher(settings))
    assert third.missing == 1
    with database.session() as session:
        assert session.query(Artwork).filter_by(path=f"{server.url}/canvas/img1").one().status == "missing"
        import_sitters(session, [SitterRecord(next(iter(people)), external_ids={"wikidata": "Q19673"})])

    # external ids are links: in search (and so on the page) and in the match report
    first_sitter = next(iter(people))
    result = service.search(held_out[first_sitter])
    assert result.to_json()["candidates"][0]["links"] == {"wikidata": "http://www.wikidata.org/entity/Q19673"}
    from pypdf import PdfReader

    from gallery.reports.match import build_report, write_report

    report = write_report(build_report(service, result), tmp_path / "report.pdf")
    assert "wikidata.org/entity/Q19673" in " ".join(page.extract_text() for page in PdfReader(report).pages)
    links = [a["/A"]["/URI"] for page in PdfReader(report).pages for a in page.get("/Annots", [])
             if "/A" in a and "/URI" in a["/A"]]
    assert result.candidates[0].artworks[0].iiif_link in links  # the picture opens the face in the viewer
    rows = list(csv.DictReader(io.StringIO(write_report(build_report(service, result), tmp_path / "r.csv")
                                           .read_text())))
    assert rows[0]["iiif_link"] == result.candidates[0].artworks[0].iiif_link

    pages = annotation_pages(database, "https://museum.example/anno")
    assert len(pages) == photos - 1  # the missing canvas is not annotated
    for page in pages:
        assert page["type"] == "AnnotationPage" and page["@context"].endswith("presentation/3/context.json")
        for annotation in page["items"]:
            assert annotation["type"] == "Annotation" and annotation["motivation"] == "identifying"
            target = annotation["target"]
            assert target["source"]["type"] == "Canvas" and target["source"]["id"].startswith(f"{server.url}/canvas/")
            assert target["source"]["partOf"][0]["id"].startswith(f"{server.url}/manifest/")
            selector = target["selector"]
            assert selector["type"] == "FragmentSelector" and selector["conformsTo"] == "http://www.w3.org/TR/media-frags/"
            x, y, w, h = map(int, re.fullmatch(r"xywh=(\d+),(\d+),(\d+),(\d+)", selector["value"]).groups())
            assert 0 <= x and 0 <= y and 40 < w and x + w <= 500 + 2 and y + h <= 500 + 2  # canvas coordinates
            assert annotation["body"][0]["type"] == "TextualBody" and annotation["body"][0]["purpose"] == "identifying"
            assert annotation["body"][0]["value"] in people
            assert annotation["creator"]["type"] == "Software" and annotation["created"]
    linked = [a for p in pages for a in p["items"] if a["body"][0]["value"] == next(iter(people))]
    assert linked and all(a["body"][1]["id"] == "http://www.wikidata.org/entity/Q19673" for a in linked)
    # the box scaled from the fetched 300 px image to the 500 px canvas
    with database.session() as session:
        face = session.query(Artwork).filter_by(path=f"{server.url}/canvas/img0").one().faces[0]
    first_page = next(p for p in pages if p["items"][0]["target"]["source"]["id"] == f"{server.url}/canvas/img0")
    assert first_page["items"][0]["target"]["selector"]["value"] == "xywh={},{},{},{}".format(
        round(face.box[0] * 500 / 300), round(face.box[1] * 500 / 300), round((face.box[2] - face.box[0]) * 500 / 300),
        round((face.box[3] - face.box[1]) * 500 / 300))

    manifest = server.manifest("img0")
    copy = annotated_manifest(manifest, pages)
    assert copy["items"][0]["annotations"][0]["items"][0]["target"]["source"]["id"] == manifest["items"][0]["id"]
    assert "annotations" not in manifest["items"][0]  # a copy, the original untouched
    pages_written, count = write_annotations(database, tmp_path / "anno.json", "https://museum.example/anno",
                                             next(iter(people)))
    written = json.loads((tmp_path / "anno.json").read_text())
    assert written["type"] == "AnnotationCollection" and written["total"] == count == pages_written
    assert written["id"] == "https://museum.example/anno/collection"
    files = sorted((tmp_path / "anno-pages").glob("*.json"))
    chain = [json.loads(f.read_text()) for f in files]
    assert written["first"]["id"] == chain[0]["id"] and written["last"]["id"] == chain[-1]["id"]
    assert all(p["partOf"][0]["id"] == written["id"] for p in chain)
    assert [p.get("next", {}).get("id") for p in chain] == [p["id"] for p in chain[1:]] + [None]
    assert {a["body"][0]["value"] for p in chain for a in p["items"]} == {next(iter(people))}

    # without a base, ids come from the canvases: every id a web address, the documents valid
    from gallery.reports.annotations import AnnotationError, validated

    derived = annotation_pages(database)
    assert all(p["id"].startswith(f"{server.url}/canvas/") and p["id"].endswith("/portrait-gallery/page")
               for p in derived)
    for bad in ("urn:portrait-gallery:annotations", "museum.example/anno", "ftp://museum.example/anno"):
        with pytest.raises(AnnotationError, match="must be an http"):
            annotation_pages(database, bad)
    with pytest.raises(AnnotationError, match="is 2.x"):
        annotated_manifest({"@context": "http://iiif.io/api/presentation/2/context.json", "@id": "x",
                            "@type": "sc:Manifest", "sequences": []}, pages)
    with pytest.raises(AnnotationError, match="not a valid IIIF Presentation 3 Manifest"):
        annotated_manifest({**manifest, "label": None}, pages)
    with pytest.raises(AnnotationError, match="is not an http"):
        validated({**manifest, "id": "urn:x:manifest"}, "Manifest")


def test_cli_index_iiif_and_export_annotations(served, gallery_cli, tmp_path):
    settings, server, people, _held_out = served
    args = ("--config", settings.config_file, "--data-dir", tmp_path / "cli-data")
    env_size = ("--max-size", "300")
    both = gallery_cli("index", "some/folder", "--iiif", f"{server.url}/manifest/img0.json", *args, check=False)
    assert both.returncode == 2 and "one of them" in both.stderr
    bad_map = gallery_cli("index", "--iiif", f"{server.url}/manifest/img0.json", "--map", "Maker=painter", *args,
                          check=False)
    assert bad_map.returncode == 1 and "not painter" in bad_map.stderr
    done = json.loads(gallery_cli("index", "--iiif", f"{server.url}/manifest/img0.json", *env_size, "--json",
                                  *args).stdout)
    assert done["canvases"] == 1 and done["index"]["counts"]["new"] == 1 and not done["problems"]
    out = tmp_path / "anno.json"
    manifest_file = tmp_path / "manifest.json"
    manifest_file.write_text(json.dumps(server.manifest("img0")))
    written = gallery_cli("export", "annotations", "-o", out, "--manifest", manifest_file, *args)
    assert "1 annotation(s) on 1 canvas(es)" in written.stdout
    copy = json.loads((tmp_path / "anno-manifest.json").read_text())
    assert copy["items"][0]["annotations"][0]["type"] == "AnnotationPage"
    unknown = gallery_cli("export", "annotations", "-o", out, "--sitter", "Nobody We Know", *args, check=False)
    assert unknown.returncode == 1 and "no sitter named" in unknown.stderr
    shutil.rmtree(tmp_path / "cli-data", ignore_errors=True)
