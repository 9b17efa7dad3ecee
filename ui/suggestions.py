"""Suggestions: every face not yet identified with the sitter the collection points to, most
confident first; the face and the sitter's best matching face side by side; accept, reject or skip
each, or accept all at or below a chosen search rate: the count, and how many of them are expected
to be wrong, are shown before it runs (gallery.curation.suggestions). Every step has a key
(ui.keys): a decision takes the suggestion off the list and shows the next at once, and undo takes
the last decision back (db.decisions.take_back) and puts the suggestion back."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from db.collection import face_thumbnails
from db.decisions import take_back
from gallery.curation import suggestions as library
from gallery.core.errors import GalleryError

from ui import keys
from ui.services import Services, jpeg

HEADERS = ["face", "suggested sitter", "score", "search rate", "false matches (pairs)", "work"]


def render() -> dict:
    with gr.Row():
        min_score = gr.Slider(-1.0, 1.0, value=0.0, step=0.01, label="Minimum score")
        refresh = gr.Button("Show suggestions", variant="primary", elem_id="suggestions-refresh")
    summary = gr.Markdown(elem_id="suggestions-summary")
    with gr.Row():
        with gr.Column(scale=2):
            table = gr.Dataframe(headers=HEADERS, interactive=False, label="Suggestions, most confident first",
                                 elem_id="suggestions-table")
        with gr.Column(scale=2):
            pair = gr.Gallery(label="The face, and the sitter's best matching face", columns=2, height=340,
                              object_fit="contain", elem_id="suggestions-pair")
            current = gr.Markdown(elem_id="suggestions-current")
            with gr.Row():
                accept = gr.Button("Accept (A)", variant="primary", elem_id="suggestions-accept")
                reject = gr.Button("Reject (R)", variant="stop", elem_id="suggestions-reject")
            with gr.Row():
                previous = gr.Button("← Back", elem_id="suggestions-previous")
                skip = gr.Button("Skip (S, →)", elem_id="suggestions-skip")
                undo = gr.Button("Undo (U)", elem_id="suggestions-undo")
            gr.Markdown(keys.HELP["suggestions"])
    with gr.Row():
        curator = gr.Textbox(label="Curator", max_lines=1)
        rate = gr.Number(value=0.01, label="Accept all at or below this search rate (a person not in the "
                                           "collection would get a suggestion this strong)")
        bulk = gr.Button("Accept all at this rate")
    count = gr.Markdown(elem_id="suggestions-count")
    outcome = gr.Markdown(elem_id="suggestions-outcome")
    return {"min_score": min_score, "refresh": refresh, "summary": summary, "table": table, "pair": pair,
            "current": current, "accept": accept, "reject": reject, "skip": skip, "previous": previous, "undo": undo,
            "curator": curator, "rate": rate, "bulk": bulk, "count": count, "outcome": outcome,
            "state": gr.State(None)}


def listen(c: dict, services: Services) -> None:
    shown = [c["summary"], c["table"], c["pair"], c["current"], c["count"], c["state"]]
    reviewed = [c["table"], c["pair"], c["current"], c["count"], c["state"], c["outcome"]]

    def load(min_score, rate, row: int = 0):
        try:
            found = library.suggest(services.search, min_score=float(min_score))
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        state = {"items": found.suggestions, "row": min(row, max(len(found.suggestions) - 1, 0)), "found": found,
                 "done": []}
        summary = (f"{found.to_review} face(s) to review: {len(found.suggestions)} suggestion(s) at this score, "
                   f"{found.without_suggestion} without any." + ("" if found.calibrated else
                   " Run `gallery calibrate` to see false-match rates.")
                   + (f" Each face was compared with {found.compared_faces:,} identified faces." if found.search_rates
                      else ""))
        return (summary, _rows(state), *_current(services, state), _count(state, rate), state)

    c["refresh"].click(load, [c["min_score"], c["rate"]], shown, api_name="suggestions")

    def pick(state, evt: gr.SelectData):
        if state and state["items"]:
            state["row"] = evt.index[0]
        return (*_current(services, state), state)

    c["table"].select(pick, [c["state"]], [c["pair"], c["current"], c["state"]], api_name=False)

    def move(step):
        def moved(state):
            if state and state["items"]:
                state["row"] = (state["row"] + step) % len(state["items"])
            return (*_current(services, state), state)
        return moved

    c["skip"].click(move(1), [c["state"]], [c["pair"], c["current"], c["state"]], api_name=False)
    c["previous"].click(move(-1), [c["state"]], [c["pair"], c["current"], c["state"]], api_name=False)

    def act(decide, state, typed, rate, request):
        """One decision on the suggestion shown: recorded, taken off the list (the next one shown),
        kept for undo; the list is not computed again, so review keeps pace with the keys."""
        try:
            who = services.curator(request, typed)
            if not state or not state["items"]:
                raise GalleryError("show the suggestions first" if not state else "no suggestion left to review")
            row = state["row"]
            chosen = state["items"][row]
            decide(services.search, [chosen], who)
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        verb = "accepted" if decide is library.accept else "rejected"
        state["items"].pop(row)
        state["done"].append((row, chosen, verb))
        state["row"] = min(row, max(len(state["items"]) - 1, 0))
        return (_rows(state), *_current(services, state), _count(state, rate), state,
                f"Face {chosen.face_id}: {chosen.sitter} {verb}.")

    def accept(state, typed, rate, request: gr.Request):
        return act(library.accept, state, typed, rate, request)

    def reject(state, typed, rate, request: gr.Request):
        return act(library.reject, state, typed, rate, request)

    def undo(state, typed, rate, request: gr.Request):
        try:
            who = services.curator(request, typed)
            if not state or not state["done"]:
                raise GalleryError("no decision of this review to undo")
            row, chosen, verb = state["done"][-1]
            with services.database.session() as session:
                take_back(session, chosen.face_id, chosen.sitter_id, who, f"undid: {verb} suggestion")
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        state["done"].pop()
        state["items"].insert(min(row, len(state["items"])), chosen)
        state["row"] = min(row, len(state["items"]) - 1)
        return (_rows(state), *_current(services, state), _count(state, rate), state,
                f"Undone: face {chosen.face_id}, {chosen.sitter} {verb}; it is back in the list.")

    inputs = [c["state"], c["curator"], c["rate"]]
    c["accept"].click(accept, inputs, reviewed, api_name="accept_suggestion")
    c["reject"].click(reject, inputs, reviewed, api_name="reject_suggestion")
    c["undo"].click(undo, inputs, reviewed, api_name="undo_suggestion")
    c["rate"].change(lambda state, rate: _count(state, rate), [c["state"], c["rate"]], [c["count"]], api_name=False)

    def accept_all(state, typed, min_score, rate, request: gr.Request):
        try:
            who = services.curator(request, typed)
            chosen = _at_rate(state, rate)
            if not chosen:
                raise GalleryError("no suggestion is at or below that search rate (or none is calibrated)")
            done = library.accept(services.search, chosen, who, f"accepted in bulk at search rate <= {rate:g}")
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        return (*load(min_score, rate), f"{done} suggestion(s) accepted.")

    c["bulk"].click(accept_all, [c["state"], c["curator"], c["min_score"], c["rate"]], [*shown, c["outcome"]],
                    api_name="accept_all_suggestions")


def _rows(state) -> list[list]:
    return [[s.face_id, s.sitter, round(s.score, 3),
             "not calibrated" if s.search_false_match_rate is None else f"{s.search_false_match_rate:.2g}",
             s.false_match or "not calibrated", s.title or Path(s.path).name] for s in state["items"]]


def _at_rate(state, rate) -> list:
    if not state or rate is None:
        return []
    return library.at_rate(state["items"], float(rate))


def _count(state, rate) -> str:
    if rate is None:
        return "Give a search rate to accept in bulk."
    chosen = _at_rate(state, rate)
    text = f"{len(chosen)} suggestion(s) would be accepted at a search rate of at most {rate:g}"
    if chosen:
        text += f"; {state['found'].describe_expected_wrong(chosen)}"
    return text + "."


def _current(services: Services, state) -> tuple[list, str]:
    if not state or not state["items"]:
        return [], "No suggestion to review."
    chosen = state["items"][state["row"]]
    with services.database.session() as session:
        thumbs = face_thumbnails(session, [chosen.face_id, chosen.evidence_face_id])
    pair = [(jpeg(thumbs.get(chosen.face_id)), f"face {chosen.face_id}"),
            (jpeg(thumbs.get(chosen.evidence_face_id)), f"{chosen.sitter} (face {chosen.evidence_face_id})")]
    text = (f"Face {chosen.face_id} of *{chosen.title or Path(chosen.path).name}*: suggested **{chosen.sitter}**, "
            f"score {chosen.score:.3f}" + (f", {chosen.false_match}" if chosen.false_match else "") + ".")
    return [p for p in pair if p[0]], text
