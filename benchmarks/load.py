"""The page under load: N concurrent clients identify through the page's API (gradio_client, as the
page calls) for a fixed time against a running `gallery serve`, with and without batching of
concurrent queries at the model (`serve_batch`).

Collection: ../shared/data/lfw-mini (400 images, 100 sitters) indexed with the shared ONNX models
(SCRFD-500M + MobileFaceNet). Queries: lfw-mini images, round robin. Each configuration gets its
own server process on 127.0.0.1, started fresh, warmed up with one query per client, then loaded
for `--seconds`; the server's resident memory is read from /proc before and after.

Reports per configuration: answered queries/s, p50/p95 latency, "busy, try again" answers (queue
full), other errors, and the server's memory growth. Prints a table and writes
benchmarks/results/load.json.

    python benchmarks/load.py [--clients 1,4,16] [--batch 1,8] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
LFW = SHARED / "data" / "lfw-mini"
RESULTS = Path(__file__).parent / "results" / "load.json"

from benchmarks.memory import memory_bytes  # noqa: E402
from gallery.config.device import cpu_name  # noqa: E402



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    return memory_bytes(pid).get("VmRSS", float("nan")) / 2**20


def prepare(work: Path) -> tuple[Path, dict]:
    """A profile of the shared models and lfw-mini indexed into work/data."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import write_profile

    profile = write_profile(work / "onnx.toml", SHARED / "models")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GALLERY_DATA_DIR": str(work / "data")}
    subprocess.run([sys.executable, "-m", "gallery", "index", str(LFW), "--config", str(profile)], env=env,
                   check=True, capture_output=True)
    return profile, env


def open_service(profile: Path, data: Path):
    """A SearchService in this process over what `prepare` indexed."""
    from db.engine import open_database
    from gallery.faces.pipeline import FacePipeline
    from gallery.search.service import SearchService
    from gallery.config.settings import load_settings

    settings = load_settings(profile, {"HOME": str(data), "HF_HUB_OFFLINE": "1"}, data_dir=str(data))
    return SearchService(FacePipeline(settings), open_database(settings.database_url), settings.index_dir)


def connect(url: str, limit_s: float = 600, **options):
    from gradio_client import Client

    deadline = time.monotonic() + limit_s
    while True:
        try:
            return Client(url, verbose=False, **options)
        except Exception:  # noqa: BLE001 (not listening yet)
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run_config(profile: Path, env: dict, clients: int, batch: int, seconds: float, images: list[Path]) -> dict:
    from gradio_client import handle_file

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "gallery", "serve", "--port", str(port), "--config",
                               str(profile)], env={**env, "GALLERY_SERVE_BATCH": str(batch)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        sessions = [connect(url) for _ in range(clients)]
        for n, client in enumerate(sessions):  # warm-up: models loaded, one query per client
            client.predict(handle_file(str(images[n % len(images)])), 5, -1.0, api_name="/identify")
        rss_before = rss_mb(server.pid)
        latencies, busy, errors = [], [0], []
        stop = time.monotonic() + seconds
        lock = threading.Lock()

        def work(n: int, client) -> None:
            k = n
            while time.monotonic() < stop:
                image = images[k % len(images)]
                k += clients
                started = time.monotonic()
                try:
                    client.predict(handle_file(str(image)), 5, -1.0, api_name="/identify")
                except Exception as err:  # noqa: BLE001 (counted)
                    with lock:
                        if "Queue is full" in str(err):
                            busy[0] += 1
                        else:
                            errors.append(str(err)[:200])
                    continue
                with lock:
                    latencies.append(time.monotonic() - started)

        threads = [threading.Thread(target=work, args=(n, c)) for n, c in enumerate(sessions)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - began
        rss_after = rss_mb(server.pid)
        alive = server.poll() is None
    finally:
        server.kill()
        server.wait()
    lat = np.array(latencies) if latencies else np.array([np.nan])
    return {"clients": clients, "serve_batch": batch, "seconds": round(elapsed, 1), "answered": len(latencies),
            "queries_per_s": round(len(latencies) / elapsed, 2), "p50_s": round(float(np.median(lat)), 3),
            "p95_s": round(float(np.percentile(lat, 95)), 3), "busy": busy[0], "errors": len(errors),
            "error_samples": errors[:3], "rss_before_mb": round(rss_before), "rss_after_mb": round(rss_after),
            "server_alive": alive}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--batch", default="1,8", help="serve_batch values to compare")
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    if not LFW.exists():
        sys.exit(f"{LFW} is absent (see ../shared/README.md)")
    images = sorted(LFW.glob("*/*.jpg"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="gallery-load-") as tmp:
        profile, env = prepare(Path(tmp))
        for clients in map(int, args.clients.split(",")):
            for batch in map(int, args.batch.split(",")):
                rows.append(run_config(profile, env, clients, batch, args.seconds, images))
                r = rows[-1]
                print(f"clients {r['clients']:>3}  serve_batch {r['serve_batch']:>2}  {r['queries_per_s']:>6.2f} q/s  "
                      f"p50 {r['p50_s']:.3f} s  p95 {r['p95_s']:.3f} s  busy {r['busy']}  errors {r['errors']}  "
                      f"rss {r['rss_before_mb']}->{r['rss_after_mb']} MB  alive {r['server_alive']}", flush=True)
    out = {"cpu": cpu_name(), "cores": os.cpu_count(), "profile": "SCRFD-500M + MobileFaceNet (shared ONNX)",
           "collection": "lfw-mini, 400 images", "rows": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2))
    print(f"\nCPU: {out['cpu']} ({out['cores']} cores); written {RESULTS}")


if __name__ == "__main__":
    main()
