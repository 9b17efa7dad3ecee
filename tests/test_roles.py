"""Roles: a viewer's decision is refused by every decision route of the page with a clear message
and nothing written; a curator's decision is attributed to the login, never to a typed name."""

from __future__ import annotations

import pytest

from tests.test_ui import _client, _free_port

pytestmark = pytest.mark.slow
PASSWORD = "correct horse"
# every route of the page that records a decision (ui/: each handler asks Services.curator first)
DECISIONS = ("confirm_candidate", "reject_candidate", "add_to_collection", "curate", "name_cluster",
             "accept_suggestion", "reject_suggestion", "accept_all_suggestions", "split_replica",
             "sitter_rename", "sitter_merge", "sitter_edit", "sitter_delete", "undo_suggestion", "undo_cluster",
             "draw_face", "reject_face", "restore_face")


def _counts(database) -> dict[str, int]:
    """Rows of every table: what 'nothing written' is checked against."""
    from sqlalchemy import func, select

    from db.schema import Base

    with database.session() as session:
        return {t.name: session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def _dummy(parameter: dict):
    if parameter.get("parameter_has_default"):
        return parameter["parameter_default"]
    kind = str(parameter.get("python_type", {}).get("type", ""))
    return {"str": "Somebody", "float": 1, "int": 1, "bool": False}.get(kind)


@pytest.fixture(scope="module")
def served(indexed, tmp_path_factory):
    from ui.auth import add_user
    from ui.server import launch

    users = tmp_path_factory.mktemp("roles") / "users.txt"
    add_user(users, "anna", PASSWORD, "curator")
    add_user(users, "victor", PASSWORD, "viewer")
    add_user(users, "ada", PASSWORD, "admin")
    port = _free_port()
    demo = launch(indexed[0], port=port, auth_file=users, block=False)
    yield f"http://127.0.0.1:{port}/", indexed
    demo.close()


def test_a_viewer_decides_nothing_on_any_route(served):
    """Every named route is called as a viewer: exactly the decision routes refuse for the role
    (a new decision route that is not listed, or a listed one that forgot to ask, fails), and no
    table gains or loses a row."""
    url, (_settings, _service, _held_out, database) = served
    client = _client(url, auth=("victor", PASSWORD))
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/identify" in endpoints and "/dossier" in endpoints
    before = _counts(database)
    refused = set()
    for route, info in endpoints.items():
        try:
            client.predict(*[_dummy(p) for p in info["parameters"]], api_name=route)
        except Exception as err:  # gradio_client raises its own AppError with the page's message
            if "victor logs in as a viewer" in str(err):
                assert "curator or admin login" in str(err)
                refused.add(route.lstrip("/"))
    assert refused == set(DECISIONS)
    assert _counts(database) == before
    assert "faces" in client.predict(api_name="/status")[0]  # and the viewer still uses the page


def test_a_curators_decision_is_the_logins_and_an_admin_may_decide(served):
    from db.collection import sitter_faces
    from db.identifications import history
    from db.sitters import sitter_named

    url, (_settings, _service, held_out, database) = served
    name = held_out[0].parent.name.replace("_", " ")
    with database.session() as session:
        face_id = sitter_faces(session, sitter_named(session, name).id)[0].face_id
    for login in ("anna", "ada"):
        client = _client(url, auth=(login, PASSWORD))
        message = client.predict(face_id, "disputed", name, "the costume is later", api_name="/curate")[0]
        assert f"Recorded on face {face_id}: disputed for {name}" in message
        with database.session() as session:
            assert history(session, face_id)[-1].who == login
