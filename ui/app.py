"""The page: eight panels as tabs, one module each, wired to the services."""

from __future__ import annotations

import gradio as gr

from ui import clusters, collection, compare, enquiry, identify, record, status, suggestions
from ui.services import Services, pictures_folder


def build_app(services: Services) -> gr.Blocks:
    from gallery.faces.formats import register_plugins

    _serve_pictures_as_static()
    register_plugins()  # gradio opens each upload with Pillow before the page's loader: HEIC too
    with gr.Blocks(title="Portrait Gallery", analytics_enabled=False) as demo:
        gr.Markdown("# Portrait Gallery\nWho is in this painting? Upload a portrait or a photograph.")
        with gr.Tab("Identify"):
            identify_parts = identify.render()
        with gr.Tab("Suggestions"):
            suggestion_parts = suggestions.render()
        with gr.Tab("Clusters"):
            cluster_parts = clusters.render()
        with gr.Tab("Enquiry"):
            enquiry_parts = enquiry.render()
        with gr.Tab("Compare"):
            compare_parts = compare.render()
        with gr.Tab("Collection"):
            collection_parts = collection.render()
        with gr.Tab("Record"):
            record_parts = record.render()
        with gr.Tab("Status"):
            status_parts = status.render()
        identify.listen(identify_parts, services)
        suggestions.listen(suggestion_parts, services)
        clusters.listen(cluster_parts, services)
        enquiry.listen(enquiry_parts, services)
        compare.listen(compare_parts, services)
        collection.listen(collection_parts, services)
        record.listen(record_parts, services)
        status.listen(status_parts, services, demo)
    # one request at a time per handler (identify batches its own, see identify.listen); beyond
    # queue_size waiting requests the answer is "queue full, try again" (HTTP 503), never a hang
    demo.queue(default_concurrency_limit=1, max_size=services.settings.queue_size)
    return demo


def _serve_pictures_as_static() -> None:
    """The page's pictures (content-named, written once; see `services.served`) as gradio static
    files: served as they are, without gradio's per-answer path checks and cache moves. The folder
    holds nothing else, and with logins on the session gate still guards every route."""
    from gradio.data_classes import _StaticFiles

    folder = pictures_folder().resolve()
    paths = _StaticFiles.all_paths  # process-wide, and what `gr.set_static_paths` extends
    if folder not in paths:
        gr.set_static_paths([folder])
    # gradio tries the static paths in order, resolving each one (and the file) for every picture of
    # every answer: ours first spares the deeper paths of gradio's own icons (7 ms an identify here).
    if paths[0] != folder:
        paths.remove(folder)
        paths.insert(0, folder)
