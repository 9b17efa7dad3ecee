#!/usr/bin/env python3
"""The page's screenshot in the README and docs (docs/images/page.png): lfw-mini indexed with the
shared ONNX profile into a temporary folder, `gallery serve` on 127.0.0.1, Chromium (headless,
through Playwright) uploading a held-out photograph and waiting for the ranked sitters.

    .venv/bin/python scripts/screenshot-page.py [OUT.png]
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LFW = ROOT.parent / "shared" / "data" / "lfw-mini"
QUERY = "Al_Gore/Al_Gore_0002.jpg"


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="gallery-screenshot-"))
    collection = work / "collection"
    for person in sorted(p for p in LFW.iterdir() if p.is_dir())[:40]:
        shutil.copytree(person, collection / person.name,
                        ignore=lambda _d, names: [n for n in names if f"{person.name}/{n}" == QUERY])
    gallery = [sys.executable, "-m", "gallery"]
    where = ["--config", str(ROOT / "profiles" / "shared-onnx.toml"), "--data-dir", str(work / "data")]
    subprocess.run([*gallery, "index", str(collection), *where], check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([*gallery, "serve", "--port", str(port), *where], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):  # until the page answers
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("#identify-upload input[type=file]").set_input_files(str(LFW / QUERY))
            page.wait_for_selector("text=Best candidate:", timeout=300_000)
            page.wait_for_timeout(1500)  # the pictures of the answer finish loading
            page.screenshot(path=str(out))
            browser.close()
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images" / "page.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    main(target)
    print(target)
