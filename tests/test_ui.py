"""The running page through gradio_client and plain HTTP: every endpoint the page uses, curator
actions, sessions kept apart, file serving limits, and the login on the page and the API."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests

from tests.waiting import GENEROUS_S


pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(indexed):
    from ui.server import launch

    settings = indexed[0]
    port = _free_port()
    demo = launch(settings, port=port, block=False)
    yield f"http://127.0.0.1:{port}/", indexed
    demo.close()


def _client(url, **kwargs):
    from gradio_client import Client

    return Client(url, verbose=False, **kwargs)


def test_identify_then_report_in_one_session(server, tmp_path):
    from gradio_client import handle_file
    from pypdf import PdfReader

    url, (_settings, _service, held_out, _db) = server
    client = _client(url)
    empty, face, no_crop, verdict, table, no_works, no_loose, *_acting = client.predict(
        handle_file(str(held_out[0])), 5, -1.0, api_name="/identify")
    sitter = held_out[0].parent.name.replace("_", " ")
    assert table["data"][0][1] == sitter and f"Best candidate: {sitter}" in verdict
    assert empty is None and no_crop is None and no_works == [] and no_loose == []  # the table comes first
    annotated, crop, works, _loose = client.predict(api_name="/identify_pictures")  # then its pictures
    assert len(works) == 3 and Path(annotated).exists() and Path(crop).exists()
    pictures, words = client.predict(api_name="/explain")  # why the top candidate matched
    assert len(pictures) == 2 and all(Path(p["image"]).exists() for p in pictures)  # one component: query, match
    assert sitter in words and words.count("most against") == 2
    pdf = client.predict("anna", "seen in the store room", api_name="/report_pdf")
    text = " ".join(p.extract_text() for p in PdfReader(pdf).pages)
    assert sitter in text and "anna" in text and "Why the top candidate matched" in text and "most against" in text
    # another browser session has no search of its own to report on, or to explain
    with pytest.raises(Exception, match="identify a face first"):
        _client(url).predict("bob", "", api_name="/report_json")
    with pytest.raises(Exception, match="identify a face with at least one candidate first"):
        _client(url).predict(api_name="/explain")


def test_pictures_are_served_as_they_are_written(server):
    """The page's pictures (content-named, written once) are gradio static files: every answer hands
    gradio their own paths, which it serves without checking and moving them again (0.5 ms a picture)."""
    from gradio.utils import is_static_file
    from gradio_client import handle_file

    from ui.services import pictures_folder

    url, (_settings, _service, held_out, _db) = server
    client = _client(url, download_files=False)
    client.predict(handle_file(str(held_out[0])), 5, -1.0, api_name="/identify")
    annotated, crop, works, loose = client.predict(api_name="/identify_pictures")
    pictures = [annotated, crop, *(item["image"] for item in works + loose)]
    assert len(pictures) > 3
    for picture in pictures:
        path = Path(picture["path"])
        assert path.parent == pictures_folder() and is_static_file(path), path
        served = requests.get(f"{url}gradio_api/file={path}", timeout=GENEROUS_S)
        assert served.status_code == 200 and served.content == path.read_bytes()


def test_a_scan_sized_upload_is_shown_at_display_size(server, tmp_path):
    from gradio_client import handle_file
    from PIL import Image

    from gallery.faces.query_view import VIEW_SIDE
    from tests.collections import scan_of

    url, (_settings, _service, held_out, _db) = server
    scan = tmp_path / "scan.jpg"
    scan.write_bytes(scan_of(held_out[2]))
    client = _client(url)
    _empty, _face, _crop, _verdict, table, *_rest = client.predict(handle_file(str(scan)), 5, -1.0,
                                                                   api_name="/identify")
    assert table["data"][0][1] == held_out[2].parent.name.replace("_", " ")
    annotated, crop, _works, _loose = client.predict(api_name="/identify_pictures")
    assert Image.open(annotated).size == (VIEW_SIDE, 960) and Image.open(crop).size == (112, 112)


def test_a_16_bit_greyscale_scan_reaches_the_search_as_sent(server, tmp_path):
    """gradio's default RGB conversion clipped a 16-bit scan to near white before the page saw it."""
    import numpy as np
    from gradio_client import handle_file
    from PIL import Image

    url, (_settings, _service, held_out, _db) = server
    grey = np.asarray(Image.open(held_out[1]).convert("L")).astype(np.uint16) * 257
    scan = tmp_path / "scan-16bit.tif"
    Image.fromarray(grey).save(scan)
    assert Image.open(scan).mode == "I;16"
    _annotated, _face, _crop, _verdict, table, *_rest = _client(url).predict(handle_file(str(scan)), 5, -1.0,
                                                                            api_name="/identify")
    assert table["data"][0][1] == held_out[1].parent.name.replace("_", " ")


def test_compare_collection_curate_and_status(server):
    from gradio_client import handle_file

    url, (_settings, _service, held_out, database) = server
    client = _client(url)
    crop_a, crop_b, verdict, scores = client.predict(handle_file(str(held_out[0])), handle_file(str(held_out[1])),
                                                     0, 0, api_name="/compare")
    assert "Not the same sitter" in verdict and scores["same_sitter"] is False and scores["threshold"] == 0.3
    name = held_out[0].parent.name.replace("_", " ")
    sitters = client.predict(name.split()[0], api_name="/sitters")
    assert name in [row[1] for row in sitters["data"]]
    from db.collection import sitter_faces
    from db.sitters import sitter_named

    with database.session() as session:
        sitter = sitter_named(session, name)
        face_id = sitter_faces(session, sitter.id)[0].face_id
    message = client.predict(face_id, "disputed", name, "the costume is later", api_name="/curate")[0]
    assert f"Recorded on face {face_id}: disputed for {name}" in message
    with database.session() as session:
        assert {e.face_id: e.status for e in sitter_faces(session, sitter.id)}[face_id] == "disputed"
    with pytest.raises(Exception, match="action must be one of|Value"):
        client.predict(face_id, "forgotten", name, "", api_name="/curate")
    summary, model, errors = client.predict(api_name="/status")
    assert "faces" in summary and model["detector"]["sha256"] and errors["data"] in ([], [[None] * 4])
    artworks = client.predict("group", api_name="/artworks")
    assert [row[-1].endswith("group.jpg") for row in artworks["data"]] == [True]


def test_only_the_cache_is_served(server):
    url, (_settings, _service, held_out, _db) = server
    for path in ("/etc/passwd", str(held_out[0]), str(Path(__file__).resolve())):
        assert requests.get(f"{url}gradio_api/file={path}", timeout=GENEROUS_S).status_code in (403, 404)


def test_login_guards_the_page_and_the_api(indexed, tmp_path):
    from ui.auth import add_user
    from ui.server import launch
    from ui.services import served

    settings = indexed[0]
    users = tmp_path / "users.txt"
    add_user(users, "anna", "correct horse")
    assert "correct horse" not in users.read_text()
    port = _free_port()
    demo = launch(settings, port=port, auth_file=users, block=False)
    url = f"http://127.0.0.1:{port}/"
    try:
        assert requests.get(f"{url}config", timeout=GENEROUS_S).status_code == 401
        assert requests.get(f"{url}gradio_api/info", timeout=GENEROUS_S).status_code == 401
        with pytest.raises(Exception):
            _client(url)
        with pytest.raises(Exception):
            _client(url, auth=("anna", "wrong password"))
        client = _client(url, auth=("anna", "correct horse"))
        assert "faces" in client.predict(api_name="/status")[0]
        picture = served(b"a picture the page wrote")  # the page's pictures are static files: still guarded
        assert requests.get(f"{url}gradio_api/file={picture}", timeout=GENEROUS_S).status_code == 401
    finally:
        demo.close()


def test_record_panel_face_history_and_refusals(server):
    url, (_settings, _service, held_out, database) = server
    client = _client(url)
    from db.collection import sitter_faces
    from db.sitters import sitter_named

    name = held_out[0].parent.name.replace("_", " ")
    with database.session() as session:
        face_id = sitter_faces(session, sitter_named(session, name).id)[0].face_id
    rows = client.predict(face_id, api_name="/face_history")["data"]
    assert (rows[0][1], rows[0][2], rows[0][3]) == (name, "confirmed", "metadata")  # the catalogue's label first
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # then every later decision, in order
    with pytest.raises(Exception, match="never deleted"):
        client.predict(name, "", "", None, None, "", "", "unchanged", api_name="/sitter_delete")
    with pytest.raises(Exception, match="there is no sitter named"):
        client.predict("Nobody At All", name, "", None, None, "", "", "unchanged", api_name="/sitter_merge")
    with pytest.raises(Exception, match="no identification records"):
        client.predict(10_000_000, api_name="/face_history")


def test_the_page_shows_a_candidates_best_works_and_says_how_many_more(monkeypatch):
    from types import SimpleNamespace

    from ui import identify

    works = [SimpleNamespace(face_id=i, iiif_link=None, title=f"Work {i}", path=f"/c/{i}.jpg")
             for i in range(45)]  # best first, as search ranks them
    candidate = SimpleNamespace(sitter="Jan Six", score=0.8, artworks=works, links={})
    state = {"result": SimpleNamespace(candidates=[candidate]), "row": 0}
    monkeypatch.setattr(identify, "_gallery", lambda services, matches: list(matches))
    assert identify._works(None, state) == works[:identify.WORKS_SHOWN]
    assert f"the {identify.WORKS_SHOWN} best of its 45 matching works" in identify._selected(state)
    candidate.artworks = works[:3]
    assert identify._works(None, state) == works[:3] and "best of its" not in identify._selected(state)
    assert "viewer" not in identify._selected(state)
    works[1].iiif_link = "https://viewer.example/?iiif-content=abc"  # a work from IIIF: its face opens in the viewer
    assert "Open the face in the viewer: [Work 1](https://viewer.example/?iiif-content=abc)" in identify._selected(state)
