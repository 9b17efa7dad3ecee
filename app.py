"""Start the curator's page with the settings from the environment (GALLERY_*), e.g.:

    GALLERY_CONFIG=profiles/shared-onnx.toml python app.py

`gallery serve` does the same with flags (host, port, users file).
"""

import os

from gallery.config.settings import load_settings
from ui.server import launch

if __name__ == "__main__":
    launch(load_settings(None, os.environ), host=os.environ.get("GALLERY_HOST", "127.0.0.1"),
           port=int(os.environ.get("GALLERY_PORT", "7860")), auth_file=os.environ.get("GALLERY_AUTH_FILE") or None)
