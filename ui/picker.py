"""A sitter picker: a name box that offers, as the curator types, the sitters the collection holds,
found however the name is typed (case, accents, aliases, exact matches first: db.sitters.find_sitters,
the same search as `gallery sitters list --search`), and fills the box with the one chosen. A name
that matches none stays as typed: a new sitter, where the panel offers one."""

from __future__ import annotations

import gradio as gr

from db.sitters import SitterChoice, find_sitters

from ui.services import Services

MATCHES = "Sitters that match"


def render(label: str, elem_id: str) -> dict:
    box = gr.Textbox(label=label, max_lines=1, elem_id=elem_id)
    matches = gr.Radio(choices=[], label=MATCHES, visible=False, elem_id=f"{elem_id}-matches")
    return {"box": box, "matches": matches}


def offered(choices: list[SitterChoice], label: str = MATCHES):
    """The matches shown under the box (hidden when there are none)."""
    return gr.update(choices=[(c.label, c.name) for c in choices], value=None, visible=bool(choices), label=label)


def listen(p: dict, services: Services) -> None:
    def typed(text):
        with services.database.session() as session:
            return offered(find_sitters(session, text))

    p["box"].input(typed, [p["box"]], [p["matches"]], show_progress="hidden", trigger_mode="always_last",
                   api_name=False)

    def chosen(name):
        return name or "", gr.update(visible=False, value=None)

    p["matches"].input(chosen, [p["matches"]], [p["box"], p["matches"]], show_progress="hidden", api_name=False)
