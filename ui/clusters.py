"""Clusters: groups of unidentified faces that look like one person (recurring unknown sitters),
each with its faces and works; take a face out, then name the cluster (an existing or a new
sitter) in one action. Faces taken out only leave this naming; clustering again may group them."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from db.collection import face_thumbnails
from db.decisions import cluster_words, name_cluster
from gallery.curation.clusters import ClusterParams, cluster_faces
from gallery.core.errors import GalleryError

from ui import picker
from ui.services import Services, jpeg

HEADERS = ["cluster", "faces", "cohesion", "works"]


def render() -> dict:
    with gr.Row():
        min_size = gr.Slider(2, 20, value=2, step=1, label="Smallest cluster")
        refresh = gr.Button("Find clusters", variant="primary")
    summary = gr.Markdown(elem_id="clusters-summary")
    with gr.Row():
        with gr.Column(scale=1):
            table = gr.Dataframe(headers=HEADERS, interactive=False, label="Clusters, largest first",
                                 elem_id="clusters-table")
        with gr.Column(scale=2):
            faces = gr.Gallery(label="The cluster's faces (select one to take it out)", columns=6, height=260,
                               elem_id="clusters-faces")
            with gr.Row():
                take_out = gr.Button("Take the selected face out")
            with gr.Row():
                with gr.Column():
                    sitter = picker.render("Name the cluster: sitter", "clusters-sitter")
                new_sitter = gr.Checkbox(label="This is a new sitter", value=False, elem_id="clusters-new")
                curator = gr.Textbox(label="Curator", max_lines=1)
            name = gr.Button("Name this cluster", variant="primary")
    outcome = gr.Markdown(elem_id="clusters-outcome")
    return {"min_size": min_size, "refresh": refresh, "summary": summary, "table": table, "faces": faces,
            "take_out": take_out, "sitter": sitter, "new_sitter": new_sitter, "curator": curator, "name": name,
            "outcome": outcome, "state": gr.State(None)}


def listen(c: dict, services: Services) -> None:
    picker.listen(c["sitter"], services)
    shown = [c["summary"], c["table"], c["faces"], c["state"]]

    def find(min_size):
        try:
            found = cluster_faces(services.search, ClusterParams(min_size=int(min_size)))
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        state = {"clusters": {k.id: [f for f in k.faces] for k in found.clusters},
                 "cluster": found.clusters[0].id if found.clusters else None, "face": None}
        rows = [[k.id, len(k.faces), round(k.cohesion, 3), len({f.artwork_id for f in k.faces})]
                for k in found.clusters]
        summary = found.summary()
        return summary, rows, _faces(services, state), state

    c["refresh"].click(find, [c["min_size"]], shown, api_name="clusters")

    def pick(state, table, evt: gr.SelectData):
        if state and state["clusters"]:
            state["cluster"], state["face"] = int(table.iloc[evt.index[0]]["cluster"]), None
        return _faces(services, state), state

    c["table"].select(pick, [c["state"], c["table"]], [c["faces"], c["state"]], api_name=False)

    def pick_face(state, evt: gr.SelectData):
        if state and state["cluster"] is not None:
            state["face"] = evt.index
        return state

    c["faces"].select(pick_face, [c["state"]], [c["state"]], api_name=False)

    def take_out(state):
        if not state or state["cluster"] is None or state["face"] is None:
            raise gr.Error("select a face of the cluster first")
        members = state["clusters"][state["cluster"]]
        gone = members.pop(min(state["face"], len(members) - 1))
        state["face"] = None
        return _faces(services, state), state, f"Face {gone.face_id} taken out of cluster {state['cluster']}."

    c["take_out"].click(take_out, [c["state"]], [c["faces"], c["state"], c["outcome"]], api_name=False)

    def name(state, sitter, new_sitter, typed, min_size, request: gr.Request):
        try:
            who = services.curator(request, typed)
            if not state or state["cluster"] is None:
                raise GalleryError("find the clusters and choose one first")
            members = [f.face_id for f in state["clusters"][state["cluster"]]]
            with services.database.session() as session:
                words = cluster_words(name_cluster(session, members, sitter, bool(new_sitter), who),
                                      state["cluster"], who)
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        return (*find(min_size), words)

    c["name"].click(name, [c["state"], c["sitter"]["box"], c["new_sitter"], c["curator"], c["min_size"]],
                    [*shown, c["outcome"]], api_name="name_cluster")


def _faces(services: Services, state) -> list:
    if not state or state["cluster"] is None:
        return []
    members = state["clusters"][state["cluster"]]
    with services.database.session() as session:
        thumbs = face_thumbnails(session, [f.face_id for f in members])
    return [(jpeg(thumbs.get(f.face_id)), f"face {f.face_id} · {f.title or Path(f.path).name}") for f in members
            if f.face_id in thumbs]
