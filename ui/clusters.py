"""Clusters: groups of unidentified faces that look like one person (recurring unknown sitters),
each with its faces and works; take a face out, then name the cluster (an existing or a new
sitter) in one action. Faces taken out only leave this naming; clustering again may group them.
Every step has a key (ui.keys); naming or setting a cluster aside shows the next at once, and undo
takes the last naming back (db.decisions.take_back)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from db.collection import face_thumbnails
from db.decisions import cluster_words, name_cluster, take_back
from gallery.curation.clusters import ClusterParams, cluster_faces
from gallery.core.errors import GalleryError

from ui import keys, picker
from ui.services import Services, jpeg

HEADERS = ["cluster", "faces", "cohesion", "works"]


def render() -> dict:
    with gr.Row():
        min_size = gr.Slider(2, 20, value=2, step=1, label="Smallest cluster")
        refresh = gr.Button("Find clusters", variant="primary", elem_id="clusters-refresh")
    summary = gr.Markdown(elem_id="clusters-summary")
    with gr.Row():
        with gr.Column(scale=1):
            table = gr.Dataframe(headers=HEADERS, interactive=False, label="Clusters, largest first",
                                 elem_id="clusters-table")
        with gr.Column(scale=2):
            current = gr.Markdown(elem_id="clusters-current")
            faces = gr.Gallery(label="The cluster's faces (select one to take it out)", columns=4, height=380,
                               object_fit="contain", elem_id="clusters-faces")
            with gr.Row():
                previous = gr.Button("← Back", elem_id="clusters-previous")
                next_one = gr.Button("Next (S, →)", elem_id="clusters-next")
                take_out = gr.Button("Take the selected face out (X)", elem_id="clusters-take-out")
                dismiss = gr.Button("Not one person: set aside (R)", elem_id="clusters-dismiss")
                undo = gr.Button("Undo (U)", elem_id="clusters-undo")
            with gr.Row():
                with gr.Column():
                    sitter = picker.render("Name the cluster: sitter (/)", "clusters-sitter")
                new_sitter = gr.Checkbox(label="This is a new sitter", value=False, elem_id="clusters-new")
                curator = gr.Textbox(label="Curator", max_lines=1)
            name = gr.Button("Name this cluster (A)", variant="primary", elem_id="clusters-name")
            gr.Markdown(keys.HELP["clusters"])
    outcome = gr.Markdown(elem_id="clusters-outcome")
    return {"min_size": min_size, "refresh": refresh, "summary": summary, "table": table, "faces": faces,
            "current": current, "take_out": take_out, "dismiss": dismiss, "next": next_one, "previous": previous,
            "undo": undo, "sitter": sitter, "new_sitter": new_sitter, "curator": curator, "name": name,
            "outcome": outcome, "state": gr.State(None)}


def listen(c: dict, services: Services) -> None:
    picker.listen(c["sitter"], services)
    shown = [c["summary"], c["table"], c["current"], c["faces"], c["state"]]
    reviewed = [c["table"], c["current"], c["faces"], c["state"], c["outcome"]]

    def find(min_size):
        try:
            found = cluster_faces(services.search, ClusterParams(min_size=int(min_size)))
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        state = {"clusters": {k.id: [f for f in k.faces] for k in found.clusters},
                 "cohesion": {k.id: round(k.cohesion, 3) for k in found.clusters},
                 "order": [k.id for k in found.clusters], "cluster": found.clusters[0].id if found.clusters else None,
                 "face": None, "done": []}
        return (found.summary(), _rows(state), _words(state), _faces(services, state), state)

    c["refresh"].click(find, [c["min_size"]], shown, api_name="clusters")

    def pick(state, table, evt: gr.SelectData):
        if state and state["order"]:
            state["cluster"], state["face"] = int(table.iloc[evt.index[0]]["cluster"]), None
        return _words(state), _faces(services, state), state

    c["table"].select(pick, [c["state"], c["table"]], [c["current"], c["faces"], c["state"]], api_name=False)

    def pick_face(state, evt: gr.SelectData):
        if state and state["cluster"] is not None:
            state["face"] = evt.index
        return state

    c["faces"].select(pick_face, [c["state"]], [c["state"]], api_name=False)

    def move(step):
        def moved(state):
            if state and state["order"]:
                at = state["order"].index(state["cluster"]) if state["cluster"] in state["order"] else -step
                state["cluster"], state["face"] = state["order"][(at + step) % len(state["order"])], None
            return _words(state), _faces(services, state), state
        return moved

    c["next"].click(move(1), [c["state"]], [c["current"], c["faces"], c["state"]], api_name=False)
    c["previous"].click(move(-1), [c["state"]], [c["current"], c["faces"], c["state"]], api_name=False)

    def take_out(state):
        if not state or state["cluster"] is None or state["face"] is None:
            raise gr.Error("select a face of the cluster first")
        members = state["clusters"][state["cluster"]]
        gone = members.pop(min(state["face"], len(members) - 1))
        state["face"] = None
        return (_rows(state), _words(state), _faces(services, state), state,
                f"Face {gone.face_id} taken out of cluster {state['cluster']}.")

    c["take_out"].click(take_out, [c["state"]], reviewed, api_name=False)

    def set_aside(state):
        if not state or state["cluster"] is None:
            raise gr.Error("find the clusters and choose one first")
        cluster = state["cluster"]
        state["done"].append(("aside", state["order"].index(cluster), cluster, None, None))
        _leave(state, cluster)
        return (_rows(state), _words(state), _faces(services, state), state,
                f"Cluster {cluster} set aside (not one person); nothing was recorded.")

    c["dismiss"].click(set_aside, [c["state"]], reviewed, api_name=False)

    def name(state, sitter, new_sitter, typed, request: gr.Request):
        try:
            who = services.curator(request, typed)
            if not state or state["cluster"] is None:
                raise GalleryError("find the clusters and choose one first")
            cluster = state["cluster"]
            members = [f.face_id for f in state["clusters"][cluster]]
            with services.database.session() as session:
                records = name_cluster(session, members, sitter, bool(new_sitter), who)
                words = cluster_words(records, cluster, who)
                named = (records[0].sitter_id, records[0].sitter.name)
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        state["done"].append(("named", state["order"].index(cluster), cluster, *named))
        _leave(state, cluster)
        return (_rows(state), _words(state), _faces(services, state), state, words)

    c["name"].click(name, [c["state"], c["sitter"]["box"], c["new_sitter"], c["curator"]], reviewed,
                    api_name="name_cluster")

    def undo(state, typed, request: gr.Request):
        try:
            who = services.curator(request, typed)
            if not state or not state["done"]:
                raise GalleryError("no decision of this review to undo")
            kind, position, cluster, sitter_id, sitter_name = state["done"][-1]
            if kind == "named":
                with services.database.session() as session:
                    for face in state["clusters"][cluster]:
                        take_back(session, face.face_id, sitter_id, who, f"undid: cluster named {sitter_name}")
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        state["done"].pop()
        state["order"].insert(min(position, len(state["order"])), cluster)
        state["cluster"], state["face"] = cluster, None
        words = (f"Undone: cluster {cluster} is no longer named {sitter_name}." if kind == "named"
                 else f"Cluster {cluster} is back in the list.")
        return (_rows(state), _words(state), _faces(services, state), state, words)

    c["undo"].click(undo, [c["state"], c["curator"]], reviewed, api_name="undo_cluster")


def _leave(state, cluster: int) -> None:
    """The cluster off the list; the next one (or the last) is shown."""
    at = state["order"].index(cluster)
    state["order"].pop(at)
    state["cluster"] = state["order"][min(at, len(state["order"]) - 1)] if state["order"] else None
    state["face"] = None


def _rows(state) -> list[list]:
    if not state:
        return []
    return [[k, len(state["clusters"][k]), state["cohesion"][k], len({f.artwork_id for f in state["clusters"][k]})]
            for k in state["order"]]


def _words(state) -> str:
    if not state or state["cluster"] is None:
        return "No cluster to review." if state else ""
    members = state["clusters"][state["cluster"]]
    at = state["order"].index(state["cluster"]) + 1
    return (f"Cluster **{state['cluster']}** ({at} of {len(state['order'])}): {len(members)} faces in "
            f"{len({f.artwork_id for f in members})} works.")


def _faces(services: Services, state) -> list:
    if not state or state["cluster"] is None:
        return []
    members = state["clusters"][state["cluster"]]
    with services.database.session() as session:
        thumbs = face_thumbnails(session, [f.face_id for f in members])
    return [(jpeg(thumbs.get(f.face_id)), f"face {f.face_id} · {f.title or Path(f.path).name}") for f in members
            if f.face_id in thumbs]
