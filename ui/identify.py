"""Identify: upload a portrait or a photograph, see its faces, get the ranked candidate sitters,
the works behind each match, and download the match report.

An answer comes in two steps: the verdict and the ranked table first (`/identify`, the pictures'
places emptied), then the pictures (`/identify_pictures`: the annotated upload, the aligned crop,
the top candidate's works and the unidentified look-alikes), which the browser fetches one by one.
The table does not wait for them."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from db.collection import face_thumbnails
from db.sitters import life_dates
from gallery.core.errors import GalleryError
from gallery.reports.match import build_report, explain_grid_for, write_report
from gallery.search.service import SearchRequest

from ui import acting, context, explaining
from ui.services import Services, annotate, jpeg, read_upload, selected_candidate, shown, upload_image

HEADERS = ["rank", "sitter", "dates", "score", "false matches (pairs)", "in a search", "support (LR)", "status",
           "works"]
DATE_HEADERS = ["plausibility", "age then"]
WORKS_SHOWN = 30  # a candidate's best matching works shown at once; the table counts all, the report lists all


def render() -> dict:
    with gr.Row():
        with gr.Column(scale=1):
            upload = upload_image("Portrait or photograph", "identify-upload")
            with gr.Row():
                face = gr.Dropdown(choices=[], label="Face (0 = the largest)", allow_custom_value=False)
                top_k = gr.Slider(1, 50, value=10, step=1, label="Candidates")
                min_score = gr.Slider(-1.0, 1.0, value=-1.0, step=0.01, label="Minimum score")
            with gr.Row():
                date = gr.Textbox(label="Date of the work (optional: 1650, c. 1650, 1640-1660, 17th century)",
                                  max_lines=1, elem_id="identify-date")
                artist = gr.Textbox(label="Artist of the work (optional: cautions when the likenesses share the hand)",
                                    max_lines=1, elem_id="identify-artist")
            faces_view = gr.Image(label="Faces found", interactive=False, elem_id="identify-faces")
            crop = gr.Image(label="Aligned query face", interactive=False, height=160)
        with gr.Column(scale=2):
            verdict = gr.Markdown()
            table = gr.Dataframe(headers=HEADERS, interactive=False, label="Candidate sitters")
            works = gr.Gallery(label="Matching works (select a sitter above; select a work to see its replicas)",
                               columns=5, height=260, elem_id="identify-works")
            more = context.render()
            why = explaining.render()
            loose = gr.Gallery(label="Unidentified faces that resemble the query", columns=5, height=200)
            selected = gr.Markdown(elem_id="identify-selected")
            with gr.Row():
                curator = gr.Textbox(label="Curator", max_lines=1)
                note = gr.Textbox(label="Note", max_lines=2)
            act = acting.render()
            with gr.Row():
                buttons = {kind: gr.Button(f"Report ({kind.upper()})") for kind in ("pdf", "csv", "json")}
            report_file = gr.File(label="Report", interactive=False)
    return {"upload": upload, "face": face, "top_k": top_k, "min_score": min_score, "faces_view": faces_view,
            "crop": crop, "verdict": verdict, "table": table, "works": works, "loose": loose, "curator": curator,
            "note": note, "buttons": buttons, "report_file": report_file, "selected": selected, "act": act,
            "date": date, "artist": artist, "more": more, "why": why, "state": gr.State(None)}


def listen(c: dict, services: Services) -> None:
    outputs = [c["faces_view"], c["face"], c["crop"], c["verdict"], c["table"], c["works"], c["loose"], c["state"],
               c["selected"], *acting.outputs(c["act"]), *context.outputs(c["more"]), *explaining.outputs(c["why"])]

    pictures = [c["faces_view"], c["crop"], c["works"], c["loose"]]

    def identify(path, face, top_k, min_score, date=None, artist=None):
        try:
            data = read_upload(path, services.settings.max_upload_bytes)
            result = services.identify(SearchRequest(data, Path(path).name, None if face in (None, "") else int(face),
                                                     int(top_k), threshold=services.settings.match_threshold,
                                                     min_score=None if min_score <= -1 else float(min_score),
                                                     date=(date or "").strip() or None,
                                                     artist=(artist or "").strip() or None))
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        return _show(services, result)

    inputs = [c["upload"], c["face"], c["top_k"], c["min_score"], c["date"], c["artist"]]
    # several sessions identify at once; their model work is batched in services.identify. While
    # a search runs, the verdict and the table show it, not each of the answer's twenty outputs
    # (gradio draws and removes a loading overlay on every output otherwise)
    progress = {"show_progress_on": [c["verdict"], c["table"]]}
    concurrent = {"concurrency_limit": services.settings.serve_batch, "concurrency_id": "identify", **progress}
    def uploaded(path, top_k, min_score, date=None, artist=None):
        return identify(path, None, top_k, min_score, date, artist)

    def then_pictures(event, api_name=False):
        event.success(lambda state: _pictures(services, state), [c["state"]], pictures, api_name=api_name,
                      show_progress="hidden")

    then_pictures(c["upload"].upload(uploaded, [c["upload"], c["top_k"], c["min_score"], c["date"], c["artist"]],
                                     outputs, api_name="identify", **concurrent), "identify_pictures")
    then_pictures(c["date"].submit(identify, inputs, outputs, api_name=False, **concurrent))
    then_pictures(c["artist"].submit(identify, inputs, outputs, api_name=False, **concurrent))
    then_pictures(c["face"].input(identify, inputs, outputs, api_name="choose_face", **concurrent))
    then_pictures(c["top_k"].release(identify, inputs, outputs, api_name=False, **progress))
    then_pictures(c["min_score"].release(identify, inputs, outputs, api_name=False, **progress))

    def pick_sitter(state, evt: gr.SelectData):
        if state:
            state["row"] = evt.index[0]
        return (_works(services, state), _selected(state), *context.shown(services, state),
                *explaining.cleared())

    c["table"].select(pick_sitter, [c["state"]],
                      [c["works"], c["selected"], *context.outputs(c["more"]), *explaining.outputs(c["why"])],
                      api_name=False)
    acting.listen(c["act"], services, c["state"], c["curator"], c["note"])
    context.listen(c["more"], services, c["state"], c["works"], c["curator"], c["note"])
    explaining.listen(c["why"], services, c["state"])
    for kind, button in c["buttons"].items():
        button.click(lambda state, who, text, kind=kind: _report(services, state, who, text, kind),
                     [c["state"], c["curator"], c["note"]], [c["report_file"]], api_name=f"report_{kind}")


def _support(candidate) -> str:
    ratio = candidate.likelihood
    if ratio is None:
        return "—"
    return f"{ratio.verbal} (LR {ratio.lr_text}, {ratio.likenesses} likeness{'es' if ratio.likenesses != 1 else ''})"


def _likelihood(result) -> str:
    """The propositions, the best candidate's LR in words, the population and what an LR is not."""
    context = result.likelihood_context()
    if not context["available"]:
        return f"  \nNo likelihood ratio: {context['reason']}."
    text = ""
    best = result.candidates[0] if result.candidates else None
    if best is not None and best.likelihood is not None:
        text += (f"  \n**Evidence for {best.sitter}**: {best.likelihood.describe()}. Propositions: "
                 f"*the sitter is {best.sitter}* versus *{context['propositions']['Hd']}*; calibrated on "
                 f"{context['population']}.")
    if best is not None and best.same_hand:
        text += f"  \n**Caution:** {best.same_hand}"
    return text + f"  \n<small>{context['explanation']}</small>"


def _search_rate(candidate) -> str:
    """The search rate as a share of searches ("1 in 40"), or why there is none."""
    if candidate.search_false_match_rate is None:
        return "not calibrated" if candidate.false_match is None else "withheld"
    rate = candidate.search_false_match_rate
    return f"{rate:.0%}" if rate >= 0.1 else f"1 in {round(1 / rate):,}"


def _show(services: Services, result):
    rows = [[rank, cand.sitter, life_dates(cand.birth_year, cand.death_year), round(cand.score, 3),
             cand.false_match or "not calibrated", _search_rate(cand), _support(cand), cand.status, _works_count(cand)]
            + ([cand.plausibility.verdict, cand.plausibility.age_at_date or ""] if result.date else [])
            for rank, cand in enumerate(result.candidates, start=1)]
    table = {"headers": HEADERS + (DATE_HEADERS if result.date else []), "data": rows}
    if result.no_confident_match:
        verdict = (f"**No confident match**: no sitter scores above {result.threshold:.2f}. "
                   "The ranking below is shown for exploration only.")
    else:
        best = result.candidates[0]
        verdict = f"**Best candidate: {best.sitter}** ({best.score:.3f}; threshold {result.threshold:.2f})"
        verdict += _links(best)
    if result.low_quality:
        verdict = (f"**Warning: the query face's quality is {result.query_quality:.2f}, below {result.quality_floor:.2f}** "
                   "(blurred, small, damaged or not quite a face): the scores below are unreliable.  \n" + verdict)
    verdict += f"  \n{len(result.faces)} face(s) found; searching face {result.face}"
    if result.query_quality is not None:
        verdict += f" (quality {result.query_quality:.2f})"
    verdict += ". Scores are cosines, not probabilities"
    verdict += ("; the false-match estimates come from the collection's calibration." if result.calibration else
                "; run `gallery calibrate` to estimate false-match rates.")
    if result.candidates and result.candidates[0].search_false_match:
        verdict += (f"  \nA search is the best of {result.compared_faces:,} comparisons: for the best candidate, "
                    f"{result.candidates[0].search_false_match}.")
    verdict += _likelihood(result)
    if result.date:
        verdict += (f"  \nJudged against the work's date **{result.date.text}** ({result.date}): implausible "
                    "candidates stay listed, after plausible ones of equal evidence.")
    choices = [str(i) for i in range(len(result.faces))]
    state = {"result": result, "row": 0}
    # the pictures' places emptied: the previous search's pictures must not stand beside this table
    return (None, gr.Dropdown(choices=choices, value=str(result.face)), None, verdict, table, [], [], state,
            _selected(state), *acting.shown(services, result), *context.shown(services, state),
            *explaining.cleared())


def _pictures(services: Services, state) -> tuple:
    """The answer's pictures, after its table: the annotated upload, the aligned crop, the selected
    candidate's works and the unidentified look-alikes."""
    if not state:
        return None, None, [], []
    result = state["result"]
    view = result.view  # made with the search: the upload is not decoded again
    return (shown(annotate(view.picture, [view.box(f.box) for f in result.faces], result.face)),
            shown(view.crops[result.face]), _works(services, state), _gallery(services, result.unidentified))


def _works_count(candidate) -> str:
    replicas = sum(len(a.replicas) for a in candidate.artworks)
    return f"{len(candidate.artworks)} and {replicas} replica(s)" if replicas else str(len(candidate.artworks))


def _selected(state) -> str:
    try:
        chosen = selected_candidate(state)
    except GalleryError:
        return ""
    more = (f" Showing the {WORKS_SHOWN} best of its {len(chosen.artworks)} matching works; the report lists them all."
            if len(chosen.artworks) > WORKS_SHOWN else "")
    return (f"Selected candidate: **{chosen.sitter}** ({chosen.score:.3f}){_links(chosen)}; click a row of the table "
            f"to choose another.{more}{_viewer_links(chosen.artworks[:WORKS_SHOWN])}")


def _viewer_links(works) -> str:
    """For works from IIIF: Content State links that open each face in the museum's viewer."""
    links = [f"[{w.title or Path(w.path).name}]({w.iiif_link})" for w in works if w.iiif_link]
    return ("  \nOpen the face in the viewer: " + " · ".join(links)) if links else ""


def _links(candidate) -> str:
    """The sitter's authority records as links."""
    links = candidate.links
    return (" · " + " · ".join(f"[{name}]({uri})" for name, uri in sorted(links.items()))) if links else ""


def _gallery(services: Services, matches) -> list:
    with services.database.session() as session:
        thumbs = face_thumbnails(session, [m.face_id for m in matches])
    return [(jpeg(thumbs[m.face_id]), f"{m.score:.3f} · {m.title or Path(m.path).name}"
             + (f" · q {m.quality:.2f}" if m.quality is not None else "")
             + (f" · and {len(m.replicas)} replica(s)" if m.replicas else "")
             + (" (file missing)" if m.missing else "") + (" (this very file)" if m.same_file else ""))
            for m in matches if m.face_id in thumbs]


def _works(services: Services, state) -> list:
    """The selected candidate's best matching works, at most WORKS_SHOWN (each is a picture gradio
    checks and the browser fetches: a sitter with two hundred matching works would make every
    answer wait for them)."""
    try:
        return _gallery(services, selected_candidate(state).artworks[:WORKS_SHOWN])
    except GalleryError:
        return []


def _report(services: Services, state, curator: str, note: str, kind: str) -> str:
    if not state:
        raise gr.Error("identify a face first; the report describes that search")
    folder = Path(tempfile.mkdtemp(prefix="gallery-report-"))
    path = folder / f"{Path(state['result'].query).stem or 'query'}-report.{kind}"
    report = build_report(services.search, state["result"], curator or None, note or None, explain_grid_for(path))
    return str(write_report(report, path))
