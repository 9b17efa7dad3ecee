"""The curator's page (Gradio): Identify, Compare, Collection and Status panels.

One module per panel, each with `render()` building its components and `listen()` wiring its
events to the services it is given. Nothing is loaded at import; per-browser-session state lives
in `gr.State`, never in module globals.
"""
