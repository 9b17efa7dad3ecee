"""Identify, why did it match: the occlusion maps (gallery.curation.explain) of the query face and the
selected candidate's matching work (the work selected, or the best), per component, over both crops."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from gallery.core.errors import GalleryError
from gallery.curation.explain import explain_match, overlays

from ui.services import Services, selected_candidate, shown

LEGEND = ("Red: covering the region lowers the score (it supports the match); blue: covering it raises the score "
          "(it argues against the match, as where the other face differs, is painted over or damaged).")


def render() -> dict:
    with gr.Accordion("Why this match?", open=False):
        button = gr.Button("Explain the selected candidate's match", elem_id="identify-explain")
        pictures = gr.Gallery(label="Per component: the query face (left) and the matched face (right)", columns=2,
                              height=320, elem_id="identify-explanation")
        words = gr.Markdown(elem_id="identify-explain-words")
    return {"button": button, "pictures": pictures, "words": words}


def outputs(c: dict) -> list:
    """What a new search or a new candidate clears, in the order `cleared` returns."""
    return [c["pictures"], c["words"]]


def cleared() -> tuple:
    return [], ""


def listen(c: dict, services: Services, state) -> None:
    def explain(state, progress=gr.Progress()):
        try:
            candidate = selected_candidate(state)
            work = candidate.artworks[min(state.get("work") or 0, len(candidate.artworks) - 1)]
            found = explain_match(services.search, state["result"], work.face_id, None,
                                  lambda done, total: progress((done, total), desc="covering the faces patch by patch"))
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        title = work.title or Path(work.path).name
        pictures = []
        for component, (query, match) in zip(found.components, overlays(found)):
            pictures += [(shown(query), f"{component.name}: the query"), (shown(match), f"{component.name}: {title}")]
        lines = [f"**{candidate.sitter}**, face {work.face_id} of *{title}*: {found.grid} x {found.grid} positions "
                 f"in {found.seconds:.1f} s. {LEGEND}"]
        for component in found.components:
            where = component.regions()
            lines.append(f"- **{component.name}** ({component.score:.3f}): on the query, most for "
                         f"{where['query_for']}, "
                         f"most against {where['query_against']}; on the match, most for {where['match_for']}, "
                         f"most against {where['match_against']}")
        return pictures, "\n".join(lines)

    # one at a time: it runs the encoders grid² times per face
    c["button"].click(explain, [state], [c["pictures"], c["words"]], api_name="explain",
                      concurrency_limit=1, concurrency_id="explain")
