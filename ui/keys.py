"""Review from the keyboard: one key map for the Suggestions and Clusters panels, and the script the
page runs to follow it. A key clicks the first button of its list that is on screen (so the same key
acts on whichever panel is open) and does nothing while a text box has the focus; Escape leaves the
box. `/` puts the cursor in the open panel's sitter box."""

from __future__ import annotations

import json

# key (KeyboardEvent.key) -> elem_ids of the buttons it presses, tried in order; "focus:" puts the cursor in a box
KEYS: dict[str, list[str]] = {
    "a": ["suggestions-accept", "clusters-name"],
    "r": ["suggestions-reject", "clusters-dismiss"],
    "s": ["suggestions-skip", "clusters-next"],
    "ArrowRight": ["suggestions-skip", "clusters-next"],
    "ArrowLeft": ["suggestions-previous", "clusters-previous"],
    "u": ["suggestions-undo", "clusters-undo"],
    "x": ["clusters-take-out"],
    "/": ["focus:clusters-sitter"],
}

HELP = {
    "suggestions": "Keys: **A** accept · **R** reject · **S** or **→** skip to the next · **←** back · "
                   "**U** undo the last decision",
    "clusters": "Keys: **/** type the sitter, **Esc** back to the keys · **A** name the cluster · **R** not one "
                "person (set it aside) · **S** or **→** next · **←** back · **X** take the selected face out · "
                "**U** undo the last naming",
}


def script() -> str:
    """The page's keyboard handler (gradio runs it once when the page loads)."""
    return """() => {
  const keys = %s;
  const shown = (el) => el && el.offsetParent !== null;
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const tag = (target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const ids = keys[event.key] || keys[event.key.toLowerCase()];
    if (!ids) return;
    for (const id of ids) {
      const focus = id.startsWith("focus:");
      const el = document.getElementById(focus ? id.slice(6) : id);
      if (!shown(el)) continue;
      event.preventDefault();
      if (focus) {
        const box = el.querySelector("input, textarea");
        if (box) box.focus();
      } else if (!el.disabled) {
        el.click();
      }
      return;
    }
  });
}""" % json.dumps(KEYS)
