"""What a curator feels: one identify through the page against the search service alone, in the
same run, on the same collection and queries.

- service: `SearchService.search` in this process (decode, detect, embed, FAISS, grouping);
- page API: `gradio_client` against a fresh `gallery serve` (upload, queue, the same search, the
  annotated image, crops and thumbnails written and fetched one by one); and the same without the
  client fetching the output images (the answer alone);
- page HTTP: the same answer through gradio's documented HTTP route over one kept-alive
  connection and one page session, as a browser tab keeps them: the file uploaded,
  `/gradio_api/call/identify`, its event stream read to the answer (gradio_client builds new HTTP
  clients and connections for every call);
- browser: Playwright driving Chromium (when installed): from choosing the file to the ranked table
  showing the expected sitter, and on to the pictures that follow the table (the annotated upload
  and the top candidate's works shown);
- gradio's floor, in the same run and the same browser: a bare gradio app with the page's image
  upload (`ui.services.upload_image`) that answers every upload with a fixed table naming the same
  sitter, no search, no pictures: one row of three columns, and the page's shape (ten candidates,
  the page's nine columns), since drawing the page's table is part of any page that shows one. The
  page's own cost is browser minus the page-shaped floor minus service;
- the same for a scan-sized upload (`--large`, default 10 queries): each query photo enlarged to
  1,400 pixels and set into a 4032 x 3024 (12-megapixel) picture with a textured ground, saved as
  a JPEG of about 3.5 MB, as a curator's photograph of a painting would be.

Collection: ../shared/data/lfw-mini indexed with the shared ONNX models (SCRFD-500M +
MobileFaceNet); queries: one lfw-mini photo per sitter, round robin. Prints a table and writes
benchmarks/results/page.json.

    python benchmarks/page.py [--queries 30] [--browser-queries 10] [--large 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import LFW, connect, free_port, open_service, prepare  # noqa: E402

from gallery.config.device import cpu_name  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "page.json"


def percentiles(values: list[float]) -> dict:
    return {"p50_s": round(float(np.median(values)), 3), "p95_s": round(float(np.percentile(values, 95)), 3),
            "n": len(values)}


def large_queries(images: list[Path], folder: Path) -> list[Path]:
    """Each image as a 12-megapixel photograph of a work (tests.collections.scan_of), in a folder
    named after its sitter as the browser check expects."""
    from tests.collections import scan_of

    out = []
    for number, image in enumerate(images):
        path = folder / image.parent.name / f"scan-{number}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(scan_of(image))
        out.append(path)
    return out


def service_times(profile: Path, data: Path, images: list[Path]) -> list[float]:
    service = open_service(profile, data)
    service.search(images[0])
    times = []
    for image in images:
        started = time.perf_counter()
        service.search(image.read_bytes(), image.name, candidates=10)
        times.append(time.perf_counter() - started)
    return times


def api_times(url: str, images: list[Path], download: bool = True, lean_client: bool = False) -> list[float]:
    """Identify through the API; `download=False` leaves the output images on the server (the
    answer's own time, without the client fetching each picture after it). `lean_client`: the
    client does not load the certificate store for each of its HTTP clients (about 25 ms each,
    three per call); the URL is plain http on loopback, so no TLS is involved either way."""
    from gradio_client import handle_file

    client = connect(url, download_files=download, ssl_verify=not lean_client)

    def identify(image: Path) -> None:
        client.predict(handle_file(str(image)), 10, -1.0, api_name="/identify")
        if download:  # the answer's pictures come in a second call, as the page fetches them after its table
            client.predict(api_name="/identify_pictures")

    identify(images[0])
    times = []
    for image in images:
        started = time.perf_counter()
        identify(image)
        times.append(time.perf_counter() - started)
    return times


def http_times(url: str, images: list[Path]) -> list[float]:
    """Identify through the page's HTTP API with one kept-alive session: upload, call, read the
    event stream to its `complete` event (the answer, the output pictures left on the server).
    Every call names the same gradio session, as a browser tab's calls do (without one, gradio
    builds a new session's state of the whole page for each call: 24 ms here)."""
    import uuid

    import requests

    session, page_session = requests.Session(), uuid.uuid4().hex

    def identify(image: Path) -> list:
        with open(image, "rb") as handle:
            [path] = session.post(f"{url}gradio_api/upload", files={"files": (image.name, handle)}).json()
        upload = {"path": path, "orig_name": image.name, "meta": {"_type": "gradio.FileData"}}
        call = {"data": [upload, 10, -1.0, "", ""], "session_hash": page_session}  # date, artist
        event = session.post(f"{url}gradio_api/call/identify", json=call).json()["event_id"]
        kind = None
        with session.get(f"{url}gradio_api/call/identify/{event}", stream=True) as stream:
            for line in stream.iter_lines():
                if line.startswith(b"event: "):
                    kind = line[len(b"event: "):].decode()
                elif line.startswith(b"data: ") and kind in ("complete", "error"):
                    if kind == "error":
                        raise RuntimeError(f"identify failed on {image}: {line.decode()}")
                    return json.loads(line[len(b"data: "):])
        raise RuntimeError(f"the event stream of {image} ended without an answer")

    identify(images[0])
    times = []
    for image in images:
        started = time.perf_counter()
        answer = identify(image)
        times.append(time.perf_counter() - started)
        assert answer[4]["data"], f"no candidates for {image}"  # the ranked table
    return times


def page_rows(url: str, images: list[Path], browser_queries: int, suffix: str = "") -> dict:
    """The page's rows for one set of queries, each name followed by `suffix`."""
    rows = {"page_api": percentiles(api_times(url, images)),
            "page_api_answer_lean_client": percentiles(api_times(url, images, download=False, lean_client=True)),
            "page_http_answer": percentiles(http_times(url, images))}
    shown = browser_times(url, images[:browser_queries], pictures=True)
    if shown:
        rows["browser_to_table"] = percentiles(shown[0])
        rows["browser_to_pictures"] = percentiles(shown[1])
    return {name + suffix: row for name, row in rows.items()}


def over_service(rows: dict, suffix: str = "") -> dict:
    """The page's p50s over the service's, for one set of queries."""
    service = rows["service" + suffix]["p50_s"]
    return {f"{key}{suffix}_over_service_p50": round(rows[name + suffix]["p50_s"] / service, 2)
            for key, name in (("page_api", "page_api"), ("answer", "page_api_answer_lean_client"),
                              ("http_answer", "page_http_answer"))}


def floor_app(page_shaped: bool = False):
    """gradio's floor: the page's upload, answered at once with a fixed table naming the sitter; one
    row of three columns, or (`page_shaped`) ten rows of the page's columns."""
    import gradio as gr

    from ui.identify import HEADERS
    from ui.services import upload_image

    def answer(path):
        sitter = Path(path).stem.rsplit("_", 1)[0].replace("_", " ")
        if not page_shaped:
            return [[1, sitter, 0.9]]
        rows = [[rank, sitter if rank == 1 else f"Sitter {rank}", "1900-1980", 0.9, "1 in 1,000", "1 in 40",
                 "strong support", "confirmed", "4"] for rank in range(1, 11)]
        return {"headers": HEADERS, "data": rows}

    with gr.Blocks() as demo:
        gr.Markdown("Who is in this painting?")
        upload = upload_image("Portrait or photograph", "identify-upload")
        table = gr.Dataframe(headers=HEADERS if page_shaped else ["rank", "sitter", "score"], interactive=False)
        upload.upload(answer, [upload], [table])
    return demo


def browser_times(url: str, images: list[Path], pictures: bool = False) -> tuple[list[float], list[float]] | None:
    """Seconds from choosing each file to the ranked table, and (`pictures`) on to the annotated
    upload and the top candidate's works shown."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    times, with_pictures = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(600_000)
        for image in images:
            page.goto(url)
            page.wait_for_selector("text=Who is in this painting?")
            sitter = image.parent.name.replace("_", " ")
            started = time.perf_counter()
            page.locator("#identify-upload input[type=file]").set_input_files(str(image))
            page.locator("[role=gridcell]", has_text=sitter).first.wait_for()
            times.append(time.perf_counter() - started)
            if pictures:
                page.locator("#identify-faces img").first.wait_for()
                page.locator("#identify-works img").first.wait_for()
                with_pictures.append(time.perf_counter() - started)
        browser.close()
    return times, with_pictures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--browser-queries", type=int, default=10)
    parser.add_argument("--large", type=int, default=10, help="scan-sized queries (0: none)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not LFW.exists():
        sys.exit(f"{LFW} is absent (see ../shared/README.md)")
    images = [sorted(folder.glob("*.jpg"))[0] for folder in sorted(p for p in LFW.iterdir() if p.is_dir())]
    queries = [images[i % len(images)] for i in range(args.queries)]
    with tempfile.TemporaryDirectory(prefix="gallery-page-") as tmp:
        profile, env = prepare(Path(tmp))
        large = large_queries(queries[:args.large], Path(tmp) / "large")
        service = service_times(profile, Path(tmp) / "data", queries + large)
        rows = {"service": percentiles(service[:len(queries)])}
        if large:
            rows["service_large"] = percentiles(service[len(queries):])
        for shaped, name in ((False, "gradio_floor_browser_to_table"), (True, "gradio_floor_page_table")):
            if not args.browser_queries:
                break
            demo, port = floor_app(shaped), free_port()
            demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
            try:
                floor = browser_times(f"http://127.0.0.1:{port}/", queries[:args.browser_queries])
                if floor:
                    rows[name] = percentiles(floor[0])
            finally:
                demo.close()
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "gallery", "serve", "--port", str(port), "--config",
                                   str(profile)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/"
            rows.update(page_rows(url, queries, args.browser_queries))
            rows["page_api_answer_only"] = percentiles(api_times(url, queries, download=False))
            if large:
                rows.update(page_rows(url, large, args.browser_queries, "_large"))
        finally:
            server.kill()
            server.wait()
    out = {"cpu": cpu_name(), "cores": os.cpu_count(), "profile": "SCRFD-500M + MobileFaceNet (shared ONNX)",
           "collection": "lfw-mini, 400 images", "rows": rows, **over_service(rows)}
    if large:
        out |= over_service(rows, "_large")
    if "browser_to_table" in rows and "gradio_floor_page_table" in rows:
        for floor, key in (("gradio_floor_browser_to_table", "page_own_over_small_floor_s"),
                           ("gradio_floor_page_table", "page_own_browser_s")):
            out[key] = round(rows["browser_to_table"]["p50_s"] - rows[floor]["p50_s"] - rows["service"]["p50_s"], 3)
        print(f"in the browser: page p50 {rows['browser_to_table']['p50_s']:.3f} s = gradio's floor with the page's "
              f"table {rows['gradio_floor_page_table']['p50_s']:.3f} s + service {rows['service']['p50_s']:.3f} s "
              f"+ the page's own {out['page_own_browser_s']:.3f} s (goal <= 0.1; over the one-row floor "
              f"{out['page_own_over_small_floor_s']:.3f} s)")
    for name, row in rows.items():
        print(f"{name:<28} p50 {row['p50_s']:.3f} s   p95 {row['p95_s']:.3f} s   ({row['n']} queries)")
    for suffix, label in (("", "photographs"), ("_large", "scan-sized uploads")):
        if f"page_api{suffix}_over_service_p50" in out:
            print(f"{label}: page API p50 / service p50 = {out[f'page_api{suffix}_over_service_p50']:.2f}; the answer "
                  f"alone (lean client) / service = {out[f'answer{suffix}_over_service_p50']:.2f}; through HTTP on one "
                  f"session / service = {out[f'http_answer{suffix}_over_service_p50']:.2f} (goal <= 2)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"CPU: {out['cpu']} ({out['cores']} cores); written {args.out}")


if __name__ == "__main__":
    main()
