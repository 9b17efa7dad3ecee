"""Compare: two images -> the score of their chosen faces, per-component scores, the aligned crops
side by side, and the decision at the configured threshold."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from gallery.faces.batch import compare_images
from gallery.core.errors import GalleryError

from ui.services import Services, read_upload, shown, upload_image


def render() -> dict:
    with gr.Row():
        image_a = upload_image("Image A", "compare-a")
        image_b = upload_image("Image B", "compare-b")
    with gr.Row():
        face_a = gr.Number(value=0, precision=0, minimum=0, label="Face in A (0 = the largest)")
        face_b = gr.Number(value=0, precision=0, minimum=0, label="Face in B (0 = the largest)")
        button = gr.Button("Compare", variant="primary")
    with gr.Row():
        crop_a = gr.Image(label="Aligned face A", interactive=False, height=180)
        crop_b = gr.Image(label="Aligned face B", interactive=False, height=180)
        verdict = gr.Markdown()
    scores = gr.JSON(label="Scores")
    return {"image_a": image_a, "image_b": image_b, "face_a": face_a, "face_b": face_b, "button": button,
            "crop_a": crop_a, "crop_b": crop_b, "verdict": verdict, "scores": scores}


def listen(c: dict, services: Services) -> None:
    def compare(path_a, path_b, face_a, face_b):
        limit = services.settings.max_upload_bytes
        try:
            data_a, data_b = read_upload(path_a, limit), read_upload(path_b, limit)
            result = compare_images(services.pipeline, data_a, data_b, int(face_a or 0), int(face_b or 0))
        except GalleryError as err:
            raise gr.Error(str(err)) from None
        threshold = services.settings.match_threshold
        verdict = (f"### {result.verdict(threshold)}\n"
                   f"{Path(path_a).name}: face {result.face_a.index} of {result.faces_a}; "
                   f"{Path(path_b).name}: face {result.face_b.index} of {result.faces_b}")
        scores = result.to_json(threshold)
        return shown(result.crops[0]), shown(result.crops[1]), verdict, scores

    c["button"].click(compare, [c["image_a"], c["image_b"], c["face_a"], c["face_b"]],
                      [c["crop_a"], c["crop_b"], c["verdict"], c["scores"]], api_name="compare")
