"""Status: what the index holds, the profile and weights in use, the ingest errors, and the
identifications whose work's date is implausible for the sitter."""

from __future__ import annotations

import gradio as gr

from indexer.status import collection_status

from ui.services import Services


def render() -> dict:
    refresh = gr.Button("Refresh")
    summary = gr.Markdown()
    model = gr.JSON(label="Profile and weights in use")
    errors = gr.Dataframe(headers=["stage", "file", "message", "when"], interactive=False, label="Ingest errors")
    return {"refresh": refresh, "summary": summary, "model": model, "errors": errors}


def listen(c: dict, services: Services, demo: gr.Blocks) -> None:
    def show():
        state = collection_status(services.settings, services.database)
        n = state.counts
        lines = [f"**{n['artworks']}** artworks ({n['artworks_missing']} missing) · **{n['faces']}** faces · "
                 f"**{n['sitters']}** sitters · **{n['identified_faces']}** identified faces · "
                 f"**{n['errors']}** ingest errors", "", "| set | profile | dim | faces | index | health | in use |",
                 "|---|---|---|---|---|---|---|"]
        for s in state.embedding_sets:
            lines.append(f"| {s['key']} | {s['profile']} | {s['dim']} | {s['faces']} | {s['index']} | "
                         f"{s['index_health']} | "
                         f"{'yes' if s['active'] else ''} |")
        if state.implausible:
            lines += ["", f"**{len(state.implausible)}** identification(s) with a date implausible for the sitter "
                      "(a cataloguing error?):"]
            lines += [f"- face {f['face_id']} ({f['title'] or f['path']}, {f['date']}) as {f['sitter']} "
                      f"({f['life']}): {f['reason']}" for f in state.implausible[:50]]
        model = services.pipeline.info().to_json()
        errors = [[e["stage"], e["path"], e["message"], e["at"]] for e in state.errors]
        return "\n".join(lines), model, errors

    outputs = [c["summary"], c["model"], c["errors"]]
    c["refresh"].click(show, None, outputs, api_name="status")
    demo.load(show, None, outputs, api_name=False)
