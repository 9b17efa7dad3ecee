"""Faces of an artwork, in the Collection panel: show an artwork with its faces boxed, draw a face the
detector missed (click two opposite corners on the picture, or type X,Y,W,H), optionally naming its
sitter, and reject a "face" that is not one or restore it. The same functions as `gallery faces add
| reject | restore` (indexer.face_edits); a curator's login is asked first, as for every decision."""

from __future__ import annotations

import gradio as gr
import numpy as np

from db.collection import active_faces
from gallery.core.errors import GalleryError
from gallery.faces.drawn import parse_box
from indexer.face_edits import artwork_for, draw_face, reject_face, restore_face

from ui import picker
from ui.services import Services, annotate, shown

SHOWN_SIDE = 1200  # the longest side of the artwork as the page shows it


def render() -> dict:
    with gr.Accordion("Faces of an artwork: draw a missed face, reject a false one", open=False,
                      elem_id="faces-edit"):
        with gr.Row():
            artwork = gr.Textbox(label="Artwork id (see the artworks table) or path", max_lines=1,
                                 elem_id="faces-artwork")
            show = gr.Button("Show the artwork", elem_id="faces-show")
        picture = gr.Image(label="Click two opposite corners of a face to draw its box", interactive=False,
                           type="filepath", elem_id="faces-picture")
        described = gr.Markdown(elem_id="faces-described")
        with gr.Row():
            box = gr.Textbox(label="Box X,Y,W,H (image pixels)", max_lines=1, elem_id="faces-box")
            with gr.Column():
                sitter = picker.render("Sitter (optional)", "faces-sitter")
            new_sitter = gr.Checkbox(label="This is a new sitter", value=False, elem_id="faces-new")
            add = gr.Button("Add this face", variant="primary", elem_id="faces-add")
        with gr.Row():
            face_id = gr.Number(value=None, precision=0, label="Face id", elem_id="faces-id")
            reject = gr.Button("Not a face: reject", variant="stop", elem_id="faces-reject")
            restore = gr.Button("Restore a rejected face", elem_id="faces-restore")
        outcome = gr.Markdown(elem_id="faces-outcome")
    return {"artwork": artwork, "show": show, "picture": picture, "described": described, "box": box,
            "sitter": sitter, "new_sitter": new_sitter, "add": add, "face_id": face_id, "reject": reject,
            "restore": restore, "outcome": outcome, "state": gr.State(None)}


def listen(c: dict, services: Services) -> None:
    picker.listen(c["sitter"], services)

    def show(reference, corner=None):
        try:
            with services.database.session() as session:
                art = artwork_for(session, reference)
                faces = [(f.id, f.box, f.origin, f.rejected_at is not None) for f in active_faces(session, art.id)]
                path, artwork_id = art.path, art.id
            image = services.search.pipeline.load(path)
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        state = {"artwork_id": artwork_id, "size": image.size, "faces": faces, "corner": corner}
        return _picture(image.rgb, image.size, faces), _listing(faces), state

    c["show"].click(show, [c["artwork"]], [c["picture"], c["described"], c["state"]], api_name="artwork_faces")
    c["artwork"].submit(show, [c["artwork"]], [c["picture"], c["described"], c["state"]], api_name=False)

    def corner(state, evt: gr.SelectData):
        """A click on the picture: the first corner, then the box from it to the second."""
        if not state:
            return gr.update(), "", state
        scale = max(state["size"]) / min(SHOWN_SIDE, max(state["size"]))
        x, y = evt.index[0] * scale, evt.index[1] * scale
        if state["corner"] is None:
            state["corner"] = (x, y)
            return gr.update(), f"First corner at ({x:.0f}, {y:.0f}); click the opposite corner.", state
        (x0, y0), state["corner"] = state["corner"], None
        left, top = min(x0, x), min(y0, y)
        return f"{left:.0f},{top:.0f},{abs(x - x0):.0f},{abs(y - y0):.0f}", "Box drawn; add the face.", state

    c["picture"].select(corner, [c["state"]], [c["box"], c["outcome"], c["state"]], api_name=False)

    def add(state, box, sitter, new_sitter, request: gr.Request):
        try:
            who = services.curator(request)
            if not state:
                raise GalleryError("show an artwork first")
            drawn = draw_face(services.settings, services.search.pipeline, services.database, state["artwork_id"],
                              parse_box(box), sitter.strip() or None if sitter else None, bool(new_sitter), who)
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        picture, listing, state = show(str(state["artwork_id"]))
        return picture, listing, state, drawn.describe()

    c["add"].click(add, [c["state"], c["box"], c["sitter"]["box"], c["new_sitter"]],
                   [c["picture"], c["described"], c["state"], c["outcome"]], api_name="draw_face")

    def edit(action):
        def edited(state, face, request: gr.Request):
            try:
                who = services.curator(request)
                if face is None:
                    raise GalleryError("give the face id")
                result = action(services.settings, services.database, int(face), who)
            except GalleryError as err:
                raise gr.Error(str(err)) from None
            picture, listing, state = show(str(result.artwork_id))
            return picture, listing, state, result.describe()
        return edited

    outputs = [c["picture"], c["described"], c["state"], c["outcome"]]
    c["reject"].click(edit(reject_face), [c["state"], c["face_id"]], outputs, api_name="reject_face")
    c["restore"].click(edit(restore_face), [c["state"], c["face_id"]], outputs, api_name="restore_face")


def _picture(rgb: np.ndarray, size: tuple[int, int], faces) -> str:
    """The artwork at most SHOWN_SIDE pixels a side, its faces boxed (rejected ones left out)."""
    from PIL import Image

    image = Image.fromarray(rgb)
    factor = min(SHOWN_SIDE, max(size)) / max(size)
    image = image.resize((max(1, round(size[0] * factor)), max(1, round(size[1] * factor))))
    boxes = [[v * factor for v in box] for _id, box, _origin, rejected in faces if not rejected]
    return shown(annotate(np.asarray(image), boxes))


def _listing(faces) -> str:
    if not faces:
        return "No face on this artwork yet: draw one."
    boxed = [f for f in faces if not f[3]]
    words = ", ".join(f"[{n}] face {face_id}" + (" (drawn)" if origin == "drawn" else "")
                      for n, (face_id, _box, origin, _rejected) in enumerate(boxed))
    rejected = [f"face {f[0]}" for f in faces if f[3]]
    return ("Faces as numbered on the picture: " + (words or "none") + "."
            + (f" Rejected as not faces: {', '.join(rejected)}." if rejected else ""))
