"""Identify, acting on a match: when the upload is a collection file, confirm or reject the selected
candidate for its face; otherwise add the upload to the collection (with its details and, if
known, its sitter). Every decision is an identification record with who and when."""

from __future__ import annotations

import gradio as gr

from db.decisions import confirm_faces
from db.identifications import current_identifications
from db.sitters import SitterChoice
from indexer.adding import add_image
from gallery.core.errors import GalleryError

from ui import picker
from ui.services import Services, selected_candidate


def render() -> dict:
    with gr.Group(visible=False) as known:
        status = gr.Markdown(elem_id="identify-collection-face")
        with gr.Row():
            confirm = gr.Button("Confirm selected candidate", variant="primary")
            reject = gr.Button("Reject selected candidate", variant="stop")
    with gr.Accordion("Add to the collection", open=False, visible=False, elem_id="identify-add") as new:
        with gr.Row():
            title = gr.Textbox(label="Title", max_lines=1)
            artist = gr.Textbox(label="Artist", max_lines=1)
            date = gr.Textbox(label="Date (as catalogued)", max_lines=1)
            accession = gr.Textbox(label="Accession number", max_lines=1)
        with gr.Row():
            with gr.Column():
                sitter = picker.render("Sitter (optional)", "identify-add-sitter")
            new_sitter = gr.Checkbox(label="This is a new sitter", value=False, elem_id="identify-add-new")
        add = gr.Button("Add this image", variant="primary")
    outcome = gr.Markdown(elem_id="identify-acted")
    return {"known": known, "status": status, "confirm": confirm, "reject": reject, "new": new, "title": title,
            "artist": artist, "date": date, "accession": accession, "sitter": sitter, "new_sitter": new_sitter,
            "add": add, "outcome": outcome}


def outputs(c: dict) -> list:
    """What a new search refreshes, in the order `shown` returns."""
    return [c["known"], c["status"], c["new"], c["sitter"]["box"], c["sitter"]["matches"], c["outcome"]]


def shown(services: Services, result) -> tuple:
    face = result.collection_face
    candidates = picker.offered([SitterChoice(c.sitter, c.sitter) for c in result.candidates], "The candidates")
    if face is None:
        return (gr.update(visible=False), "", gr.update(visible=True), "", candidates, "")
    with services.database.session() as session:
        records = current_identifications(session, [face.face_id])
    held = ", ".join(f"{r.sitter} ({r.status}, {r.source})" for r in records) or "no identification yet"
    status = (f"This image is in the collection: face {face.face_id} of artwork {face.artwork_id} "
              f"(`{face.path}`). Its current record: {held}.")
    return (gr.update(visible=True), status, gr.update(visible=False), "", candidates, "")


def listen(c: dict, services: Services, state, curator, note) -> None:
    picker.listen(c["sitter"], services)

    def decide(status, state, typed, text, request: gr.Request):
        try:
            who = services.curator(request, typed)
            chosen = selected_candidate(state)
            result = state["result"]
            if result.collection_face is None:
                raise GalleryError("this image is not in the collection; add it first")
            with services.database.session() as session:
                confirm_faces(session, [result.collection_face.face_id], chosen.sitter_id, who,
                              text or None, status=status)
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        return f"Recorded: face {result.collection_face.face_id} {status} as {chosen.sitter} (by {who or 'anonymous'})."

    def confirm(state, typed, text, request: gr.Request):
        return decide("confirmed", state, typed, text, request)

    def reject(state, typed, text, request: gr.Request):
        return decide("rejected", state, typed, text, request)

    c["confirm"].click(confirm, [state, curator, note], [c["outcome"]], api_name="confirm_candidate")
    c["reject"].click(reject, [state, curator, note], [c["outcome"]], api_name="reject_candidate")

    def add(state, title, artist, date, accession, sitter, new_sitter, typed, text, request: gr.Request):
        try:
            who = services.curator(request, typed)
            if not state:
                raise GalleryError("identify an upload first; that upload is what is added")
            result = state["result"]
            details = {"title": title, "artist": artist, "date": date, "accession_number": accession}
            with services.adding:
                added = add_image(services.settings, services.pipeline, services.database, result.query_bytes,
                                  result.query, details, sitter or None, bool(new_sitter),
                                  result.face if sitter else None, who, text or None)
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        return added.describe() + " It is searchable now."

    c["add"].click(add, [state, c["title"], c["artist"], c["date"], c["accession"], c["sitter"]["box"], c["new_sitter"],
                         curator, note], [c["outcome"]], api_name="add_to_collection")
