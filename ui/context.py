"""Identify, the evidence around a match: the replicas of a matching work (expand a group; split
one off, recorded like any decision) and the selected candidate's dossier (every identified
likeness by date, with the sitter's age; as a PDF too)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from db.collection import face_thumbnails
from db.replicas import decide_replicas
from gallery.curation.dossier import build_dossier
from gallery.reports.dossier_pdf import write_dossier
from gallery.core.errors import GalleryError

from ui.services import Services, jpeg, selected_candidate

TIMELINE = ["date", "age then", "title", "artist", "status", "face"]


def render() -> dict:
    with gr.Group(visible=False) as group:
        replicas = gr.Gallery(label="Replicas of the selected work (the same image)", columns=5, height=170,
                              elem_id="identify-replicas")
        split = gr.Button("Not the same image: split the selected replica off")
    with gr.Accordion("Dossier of the selected candidate", open=False):
        show = gr.Button("Show the dossier")
        timeline = gr.Dataframe(headers=TIMELINE, interactive=False, label="Likenesses by date",
                                elem_id="identify-dossier")
        faces = gr.Gallery(label="The likenesses, in the same order", columns=8, height=140)
        pdf = gr.File(label="Dossier (PDF)", interactive=False)
    outcome = gr.Markdown(elem_id="identify-context-outcome")
    return {"group": group, "replicas": replicas, "split": split, "show": show, "timeline": timeline,
            "faces": faces, "pdf": pdf, "outcome": outcome}


def outputs(c: dict) -> list:
    """What a new search or a new candidate resets, in the order `shown` returns."""
    return [c["group"], c["replicas"]]


def shown(services: Services, state) -> tuple:
    if state:
        state["work"], state["replica"] = None, 0
    return gr.update(visible=False), []


def listen(c: dict, services: Services, state, works, curator, note) -> None:
    def pick_work(state, evt: gr.SelectData):
        try:
            work = selected_candidate(state).artworks[evt.index]
        except (GalleryError, IndexError):
            return gr.update(visible=False), [], state
        state["work"], state["replica"] = evt.index, 0
        with services.database.session() as session:
            thumbs = face_thumbnails(session, [r.face_id for r in work.replicas])
        shown = [(jpeg(thumbs[r.face_id]), f"{r.score:.3f} · {r.title or Path(r.path).name} (artwork {r.artwork_id})")
                 for r in work.replicas if r.face_id in thumbs]
        return gr.update(visible=bool(shown)), shown, state

    works.select(pick_work, [state], [c["group"], c["replicas"], state], api_name=False)

    def pick_replica(state, evt: gr.SelectData):
        if state:
            state["replica"] = evt.index
        return state

    c["replicas"].select(pick_replica, [state], [state], api_name=False)

    def split(state, typed, text, request: gr.Request):
        try:
            who = services.curator(request, typed)
            if not state or state.get("work") is None:
                raise GalleryError("select a matching work that has replicas first")
            work = selected_candidate(state).artworks[state["work"]]
            if not work.replicas:
                raise GalleryError("the selected work has no replicas")
            replica = work.replicas[min(state.get("replica", 0), len(work.replicas) - 1)]
            with services.database.session() as session:
                decide_replicas(session, work.artwork_id, replica.artwork_id, False, who, text or None)
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        return (f"Recorded: artworks {work.artwork_id} and {replica.artwork_id} are different images "
                f"(by {who or 'anonymous'}); search again to see them apart.")

    c["split"].click(split, [state, curator, note], [c["outcome"]], api_name="split_replica")

    def dossier(state):
        try:
            sitter = selected_candidate(state).sitter
            found = build_dossier(services.database, sitter, services.settings.posthumous_years)
            path = write_dossier(found, Path(tempfile.mkdtemp(prefix="gallery-dossier-")) / "dossier.pdf")
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        rows = [[x.date or "undated", x.age or "", x.title or Path(x.path).name, x.artist or "", x.status, x.face_id]
                for x in found.likenesses]
        faces = [(jpeg(x.thumbnail), x.date or "undated") for x in found.likenesses if x.thumbnail]
        return rows, faces, str(path)

    c["show"].click(dossier, [state], [c["timeline"], c["faces"], c["pdf"]], api_name="dossier")
