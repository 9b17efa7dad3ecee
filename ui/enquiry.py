"""Enquiry: several images (or zips of them) uploaded at once, searched as one batched job, with a
summary table and the results as CSV and PDF to download."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import gradio as gr

from gallery.reports.enquiry import run_enquiry, write_enquiry
from gallery.core.errors import GalleryError

from ui.services import Services

SHOWN = ("query", "face", "rank", "sitter", "score", "false_match", "search_false_match", "works", "note")


def render() -> dict:
    with gr.Row():
        with gr.Column(scale=1):
            files = gr.File(file_count="multiple", file_types=["image", ".zip"], label="Images or zips",
                            elem_id="enquiry-files")
            with gr.Row():
                top_k = gr.Slider(1, 20, value=3, step=1, label="Candidates per face")
                all_faces = gr.Checkbox(value=False, label="Every face (not only the largest)")
            run = gr.Button("Search all", variant="primary")
        with gr.Column(scale=2):
            summary = gr.Markdown()
            table = gr.Dataframe(headers=list(SHOWN), interactive=False, label="Results")
            downloads = gr.File(label="Results (CSV, PDF)", file_count="multiple", interactive=False,
                                elem_id="enquiry-downloads")
    return {"files": files, "top_k": top_k, "all_faces": all_faces, "run": run, "summary": summary, "table": table,
            "downloads": downloads}


def listen(c: dict, services: Services) -> None:
    def search_all(paths, top_k, all_faces, progress=gr.Progress()):
        if not paths:
            raise gr.Error("upload one or more images (or zips of images) first")
        folder = Path(tempfile.mkdtemp(prefix="gallery-enquiry-"))
        try:
            enquiry = run_enquiry(services.search, [Path(p) for p in paths], folder / "unpacked", bool(all_faces),
                                  int(top_k), services.settings.match_threshold, services.settings.batch_size,
                                  lambda done, total: progress((done, total), desc="searching"),
                                  label=f"{len(paths)} uploaded file(s)")
            written = [str(write_enquiry(enquiry, folder / f"enquiry.{kind}", services.search))
                       for kind in ("csv", "pdf")]
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        finally:
            shutil.rmtree(folder / "unpacked", ignore_errors=True)
        n = enquiry.counts()
        text = (f"**{n['queries']}** image(s), **{n['faces_searched']}** face(s) searched, **{n['confident']}** with "
                f"a confident match, {n['no_face']} without a face, {n['failed']} unreadable "
                f"({enquiry.images_per_s:.1f} images/s).")
        rows = [[row[k] if row[k] is not None else "" for k in SHOWN] for row in enquiry.rows()]
        return text, rows, written

    c["run"].click(search_all, [c["files"], c["top_k"], c["all_faces"]], [c["summary"], c["table"], c["downloads"]],
                   api_name="enquiry")

