"""Record: rename, edit (names, dates, the portrait shown, whether listed), merge or delete sitters
(each change recorded with who and when), the record of those changes, and the whole identification
history of a face."""

from __future__ import annotations

import gradio as gr

from db.identifications import history
from db.sitter_changes import AUTO, delete_sitter, edit_sitter, merge_sitters, merge_words, rename_sitter, sitter_events
from gallery.core.errors import GalleryError

from ui import picker
from ui.services import Services

EVENT_HEADERS = ["when", "change", "sitter", "who", "detail"]
HISTORY_HEADERS = ["when", "sitter", "status", "source", "who", "note"]
VISIBILITY = ["unchanged", "hide (a bystander the museum does not name)", "show"]


def render() -> dict:
    with gr.Row():
        with gr.Column():
            name = picker.render("Sitter", "record-sitter")
        with gr.Column():
            other = picker.render("New name, or the sitter to merge into", "record-other")
    with gr.Row():
        aliases = gr.Textbox(label="Alternative names (; between them)", max_lines=1)
        born = gr.Number(value=None, precision=0, label="Born")
        died = gr.Number(value=None, precision=0, label="Died")
        note = gr.Textbox(label="Note", max_lines=1)
    with gr.Row():
        portrait = gr.Textbox(label="Portrait: the face id shown for the sitter, or 'auto' (empty: unchanged)",
                              max_lines=1, elem_id="record-portrait")
        visibility = gr.Radio(choices=VISIBILITY, value=VISIBILITY[0], label="In sitter lists",
                              elem_id="record-visibility")
    with gr.Row():
        buttons = {kind: gr.Button(label, variant=variant) for kind, label, variant in (
            ("rename", "Rename", "secondary"), ("edit", "Save names and dates", "secondary"),
            ("merge", "Merge into", "primary"), ("delete", "Delete", "stop"))}
    outcome = gr.Markdown()
    events = gr.Dataframe(headers=EVENT_HEADERS, interactive=False, label="Changes to sitters, newest first")
    with gr.Row():
        face_id = gr.Number(value=None, precision=0, label="Face id")
        show_history = gr.Button("Identification history")
    face_history = gr.Dataframe(headers=HISTORY_HEADERS, interactive=False, label="Every record of this face")
    return {"name": name, "other": other, "aliases": aliases, "born": born, "died": died, "note": note,
            "portrait": portrait, "visibility": visibility,
            "buttons": buttons, "outcome": outcome, "events": events, "face_id": face_id,
            "show_history": show_history, "face_history": face_history}


def _change(kind: str, name, other, aliases, born, died, note, who, portrait=None, visibility=None):
    if kind == "rename":
        return lambda s: f"Renamed to **{rename_sitter(s, name, other, who).name}**."
    if kind == "edit":
        listed = None if aliases is None or not aliases.strip() else [a for a in aliases.split(";")]
        chosen = _portrait(portrait)
        hidden = {VISIBILITY[1]: True, VISIBILITY[2]: False}.get(visibility)
        return lambda s: _edited(edit_sitter(s, name, who, listed, _year(born), _year(died), portrait=chosen,
                                             hidden=hidden))
    if kind == "merge":
        return lambda s: merge_words(merge_sitters(s, name, other, who, note or None))

    def delete(session):
        delete_sitter(session, name, who)
        return f"Deleted **{name}**."

    return delete


def _portrait(text) -> int | str | None:
    text = (text or "").strip()
    if not text:
        return None
    if text != AUTO and not text.isdigit():
        raise GalleryError(f"the portrait is a face id or '{AUTO}', got {text!r}")
    return text if text == AUTO else int(text)


def _year(value) -> int | None:
    """A year from a number box: an empty box arrives as None or 0 (there is no year 0), meaning unknown."""
    return None if value in (None, "", 0) else int(value)


def _edited(sitter) -> str:
    return (f"**{sitter.name}**: {', '.join(sitter.alternative_names) or 'no alternative names'}; "
            f"born {sitter.birth_year or '?'}, died {sitter.death_year or '?'}; portrait "
            f"{sitter.portrait_face_id or 'auto'}" + ("; hidden from sitter lists." if sitter.hidden else "."))


def listen(c: dict, services: Services) -> None:
    def events():
        with services.database.session() as session:
            return [[e.at.strftime("%Y-%m-%d %H:%M"), e.kind, e.sitter_name, e.who or "", str(e.detail)]
                    for e in sitter_events(session)]

    def act(kind, name, other, aliases, born, died, note, portrait, visibility, request: gr.Request):
        try:
            who = services.curator(request)
            with services.database.session() as session:
                message = _change(kind, name, other, aliases, born, died, note, who, portrait, visibility)(session)
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        return message, events()

    picker.listen(c["name"], services)
    picker.listen(c["other"], services)
    inputs = [c["name"]["box"], c["other"]["box"], c["aliases"], c["born"], c["died"], c["note"], c["portrait"],
              c["visibility"]]

    def handler(kind: str):
        def run(name, other, aliases, born, died, note, portrait, visibility, request: gr.Request):  # gradio fills `request`
            return act(kind, name, other, aliases, born, died, note, portrait, visibility, request)

        return run

    for kind, button in c["buttons"].items():
        button.click(handler(kind), inputs, [c["outcome"], c["events"]], api_name=f"sitter_{kind}")

    def face_records(face_id):
        if face_id in (None, ""):
            raise gr.Error("give a face id (the Collection tab lists them)")
        with services.database.session() as session:
            records = [[r.at.strftime("%Y-%m-%d %H:%M"), r.sitter.name, r.status, r.source, r.who or "", r.note or ""]
                       for r in history(session, int(face_id))]
        if not records:
            raise gr.Error(f"face {int(face_id)} has no identification records")
        return records

    c["show_history"].click(face_records, [c["face_id"]], [c["face_history"]], api_name="face_history")
