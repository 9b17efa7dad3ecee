"""Collection: find sitters and artworks, see a sitter's faces, and as a curator confirm, reject
or reassign a face's sitter (recorded with who and when; a login is required when auth is on)."""

from __future__ import annotations

import gradio as gr

from db.collection import find_artworks, sitter_faces
from db.decisions import ACTIONS, curate, decision_words
from db.sitters import list_sitters, portraits
from gallery.core.errors import GalleryError

from ui import face_editing, picker
from ui.services import Services, jpeg

SITTER_HEADERS = ["id", "sitter", "dates", "faces", "artworks", "portrait face"]
FACE_HEADERS = ["face", "status", "source", "who", "title", "file"]
ARTWORK_HEADERS = ["id", "title", "artist", "date", "accession_number", "status", "faces", "path"]


def render() -> dict:
    with gr.Row():
        with gr.Column():
            query = gr.Textbox(label="Find a sitter", max_lines=1)
            sitters = gr.Dataframe(headers=SITTER_HEADERS, interactive=False, label="Sitters")
        with gr.Column():
            gallery = gr.Gallery(label="The sitter's faces", columns=6, height=240)
            faces = gr.Dataframe(headers=FACE_HEADERS, interactive=False, label="Faces and their identifications")
    with gr.Row():
        face_id = gr.Number(precision=0, label="Face id")
        action = gr.Dropdown(choices=list(ACTIONS), value="confirmed", label="Decision")
        with gr.Column():
            sitter_name = picker.render("Sitter (for reassign: the new sitter)", "collection-sitter")
        note = gr.Textbox(label="Note", max_lines=2)
        record = gr.Button("Record decision", variant="primary")
    outcome = gr.Markdown()
    with gr.Row():
        art_query = gr.Textbox(label="Find artworks (title, artist, accession number, file)", max_lines=1)
    artworks = gr.Dataframe(headers=ARTWORK_HEADERS, interactive=False, label="Artworks")
    editing = face_editing.render()
    return {"editing": editing, "query": query, "sitters": sitters, "gallery": gallery, "faces": faces, "face_id": face_id,
            "action": action, "sitter_name": sitter_name, "note": note, "record": record, "outcome": outcome,
            "art_query": art_query, "artworks": artworks, "selected": gr.State(None)}


def listen(c: dict, services: Services) -> None:
    picker.listen(c["sitter_name"], services)
    face_editing.listen(c["editing"], services)

    def find(text):
        with services.database.session() as session:
            return [[s.id, s.name, s.dates, s.faces, s.artworks, s.portrait_face_id or ""]
                    for s in list_sitters(session, text or None)]

    def show(sitter_id):
        if sitter_id is None:
            return [], []
        with services.database.session() as session:
            entries = sitter_faces(session, int(sitter_id))
            portrait = portraits(session, sitter_ids=[int(sitter_id)],
                                 face_ids=[e.face_id for e in entries]).get(int(sitter_id))
        entries.sort(key=lambda e: e.face_id != portrait)  # the likeness shown for the sitter first
        return ([(jpeg(e.thumbnail), f"face {e.face_id} · {e.status}") for e in entries if e.thumbnail],
                [[e.face_id, e.status, e.source, e.who or "", e.title or "", e.path] for e in entries])

    def select(table, evt: gr.SelectData):
        sitter_id = int(table.iloc[evt.index[0]]["id"])
        gallery, faces = show(sitter_id)
        return sitter_id, table.iloc[evt.index[0]]["sitter"], gallery, faces

    def decide(sitter_id, face, action, name, note, request: gr.Request):
        try:
            who = services.curator(request)
            if face is None:
                raise GalleryError("give the face id (see the faces table)")
            with services.database.session() as session:
                words = decision_words(curate(session, int(face), action, name, who, note or None,
                                              None if sitter_id is None else int(sitter_id)), int(face), who)
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        gallery, faces = show(sitter_id)
        return words, gallery, faces

    c["query"].submit(find, [c["query"]], [c["sitters"]], api_name="sitters")
    c["sitters"].select(select, [c["sitters"]], [c["selected"], c["sitter_name"]["box"], c["gallery"], c["faces"]],
                        api_name=False)
    c["record"].click(decide, [c["selected"], c["face_id"], c["action"], c["sitter_name"]["box"], c["note"]],
                      [c["outcome"], c["gallery"], c["faces"]], api_name="curate")

    def browse(text):
        with services.database.session() as session:
            return [[r[h] for h in ARTWORK_HEADERS] for r in find_artworks(session, text or "")]

    c["art_query"].submit(browse, [c["art_query"]], [c["artworks"]], api_name="artworks")
