"""Suggestions: every face not yet identified with the sitter the collection points to, most
confident first; the face and the sitter's best matching face side by side; accept, reject or skip
each, or accept all at or below a chosen search rate: the count, and how many of them are expected
to be wrong, are shown before it runs (gallery.curation.suggestions)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from db.collection import face_thumbnails
from gallery.curation import suggestions as library
from gallery.core.errors import GalleryError

from ui.services import Services, jpeg

HEADERS = ["face", "suggested sitter", "score", "search rate", "false matches (pairs)", "work"]


def render() -> dict:
    with gr.Row():
        min_score = gr.Slider(-1.0, 1.0, value=0.0, step=0.01, label="Minimum score")
        refresh = gr.Button("Show suggestions", variant="primary")
    summary = gr.Markdown(elem_id="suggestions-summary")
    with gr.Row():
        with gr.Column(scale=2):
            table = gr.Dataframe(headers=HEADERS, interactive=False, label="Suggestions, most confident first",
                                 elem_id="suggestions-table")
        with gr.Column(scale=1):
            pair = gr.Gallery(label="The face, and the sitter's best matching face", columns=2, height=220)
            current = gr.Markdown(elem_id="suggestions-current")
            with gr.Row():
                accept = gr.Button("Accept", variant="primary")
                reject = gr.Button("Reject", variant="stop")
                skip = gr.Button("Skip")
    with gr.Row():
        curator = gr.Textbox(label="Curator", max_lines=1)
        rate = gr.Number(value=0.01, label="Accept all at or below this search rate (a person not in the "
                                           "collection would get a suggestion this strong)")
        bulk = gr.Button("Accept all at this rate")
    count = gr.Markdown(elem_id="suggestions-count")
    outcome = gr.Markdown(elem_id="suggestions-outcome")
    return {"min_score": min_score, "refresh": refresh, "summary": summary, "table": table, "pair": pair,
            "current": current, "accept": accept, "reject": reject, "skip": skip, "curator": curator, "rate": rate,
            "bulk": bulk, "count": count, "outcome": outcome, "state": gr.State(None)}


def listen(c: dict, services: Services) -> None:
    shown = [c["summary"], c["table"], c["pair"], c["current"], c["count"], c["state"]]

    def load(min_score, rate, row: int = 0):
        try:
            found = library.suggest(services.search, min_score=float(min_score))
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        state = {"items": found.suggestions, "row": min(row, max(len(found.suggestions) - 1, 0)), "found": found}
        summary = (f"{found.to_review} face(s) to review: {len(found.suggestions)} suggestion(s) at this score, "
                   f"{found.without_suggestion} without any." + ("" if found.calibrated else
                   " Run `gallery calibrate` to see false-match rates.")
                   + (f" Each face was compared with {found.compared_faces:,} identified faces." if found.search_rates
                      else ""))
        rows = [[s.face_id, s.sitter, round(s.score, 3),
                 "not calibrated" if s.search_false_match_rate is None else f"{s.search_false_match_rate:.2g}",
                 s.false_match or "not calibrated", s.title or Path(s.path).name] for s in found.suggestions]
        return (summary, rows, *_current(services, state), _count(state, rate), state)

    c["refresh"].click(load, [c["min_score"], c["rate"]], shown, api_name="suggestions")

    def pick(state, evt: gr.SelectData):
        if state and state["items"]:
            state["row"] = evt.index[0]
        return (*_current(services, state), state)

    c["table"].select(pick, [c["state"]], [c["pair"], c["current"], c["state"]], api_name=False)

    def skip(state):
        if state and state["items"]:
            state["row"] = (state["row"] + 1) % len(state["items"])
        return (*_current(services, state), state)

    c["skip"].click(skip, [c["state"]], [c["pair"], c["current"], c["state"]], api_name=False)

    def act(decide, state, typed, min_score, rate, request):
        try:
            who = services.curator(request, typed)
            if not state or not state["items"]:
                raise GalleryError("show the suggestions first")
            chosen = state["items"][state["row"]]
            decide(services.search, [chosen], who)
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        verb = "accepted" if decide is library.accept else "rejected"
        return (*load(min_score, rate, state["row"]), f"Face {chosen.face_id}: {chosen.sitter} {verb}.")

    def accept(state, typed, min_score, rate, request: gr.Request):
        return act(library.accept, state, typed, min_score, rate, request)

    def reject(state, typed, min_score, rate, request: gr.Request):
        return act(library.reject, state, typed, min_score, rate, request)

    inputs = [c["state"], c["curator"], c["min_score"], c["rate"]]
    c["accept"].click(accept, inputs, [*shown, c["outcome"]], api_name="accept_suggestion")
    c["reject"].click(reject, inputs, [*shown, c["outcome"]], api_name="reject_suggestion")
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

    c["bulk"].click(accept_all, inputs, [*shown, c["outcome"]], api_name="accept_all_suggestions")


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
