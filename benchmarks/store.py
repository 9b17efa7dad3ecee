"""The vector index's files at scale: the first save, opening, and the indexer's periodic save.

At each size, in a fresh process: N synthetic face-like vectors (benchmarks/synthetic.py, the
fusion's 1,536 dimensions) in an index of --factory (SQfp16 by default: the float16 rows that
"auto" holds, exact or in IVF lists, so its file is the size an automatic index's would be;
training is left out of the timings; Flat for float32 rows as earlier versions held them), then

1. the first save (ids, float16 copy, FAISS file, manifest with its checksum);
2. opening it again (the FAISS file read; the float16 copy memory-mapped past index_map_bytes,
   1 GiB; its files, unchanged since the save, trusted by size and modification time), and opening
   it with `verify` (the copy hashed against the manifest's checksum as well, as `gallery status
   --verify` does, and as any open does when the files changed);
3. twice, the indexer's step: one batch of 512 faces added, and the index saved.

Each step's seconds and the process's private memory (RssAnon) after it; the peak resident memory
(VmHWM) of the whole sequence. The files are read back from the page cache (just written).
Prints the CPU, a table, and writes benchmarks/results/store.json.

    python benchmarks/store.py [--sizes 100000,1000000] [--factory SQfp16] [--out FILE]
"""

from __future__ import annotations

import argparse
import gc
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

from benchmarks.memory import memory_bytes  # noqa: E402
from benchmarks.synthetic import Synthetic  # noqa: E402
from gallery.config.device import cpu_name  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "store.json"
DIM = 1536
BATCH = 512
STEPS = ("first save", "open", "open, verifying", "add 512", "save", "add 512 again", "save again")


def _mb(key: str) -> int:
    """This process's memory of one kind (RssAnon, VmHWM), in MB."""
    return memory_bytes()[key] >> 20


def child(n: int, factory: str, folder: Path) -> dict:
    import faiss  # noqa: F401 (its libraries loaded before anything is measured)

    from gallery.index.opening import open_index
    from gallery.index.vector_index import VectorIndex

    data = Synthetic(n, DIM)
    index = VectorIndex(DIM, factory, use_gpu=False)
    for ids, vectors in data.chunks():
        index.add(ids, vectors)
    index.index  # built (and trained) before anything is timed
    rows, rng = [], np.random.default_rng(5)

    def timed(step, work):
        start = time.perf_counter()
        result = work()
        rows.append({"step": step, "seconds": round(time.perf_counter() - start, 2), "anon_mb": _mb("RssAnon")})
        return result

    timed("first save", lambda: index.save(folder, "benchmark"))
    del index
    gc.collect()
    opened = timed("open", lambda: open_index(folder, "benchmark", DIM, factory, use_gpu=False))
    assert opened.health == "consistent" and "unchanged" in opened.detail, opened.detail
    del opened
    gc.collect()
    opened = timed("open, verifying", lambda: open_index(folder, "benchmark", DIM, factory, use_gpu=False, verify=True))
    assert opened.health == "consistent" and "verified" in opened.detail, opened.detail
    index = opened.index
    for again in ("", " again"):
        start = n + (BATCH if again else 0)
        timed("add 512" + again, lambda: index.add(np.arange(start, start + BATCH), data.draw(rng, rng.integers(0, 8, BATCH))))
        timed("save" + again, lambda: index.save(folder, "benchmark"))
    files = sum(p.stat().st_size for p in folder.iterdir())
    return {"faces": n, "factory": factory, "rows": rows, "peak_mb": _mb("VmHWM"), "files_mb": files >> 20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--factory", default="SQfp16")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.factory, args.folder)))
        return
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        folder = Path(tempfile.mkdtemp(prefix="gallery-store-"))
        try:
            out = subprocess.run([sys.executable, __file__, "--child", str(n), "--factory", args.factory,
                                  "--folder", str(folder)], capture_output=True, text=True, check=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        results.append(json.loads(out.stdout.splitlines()[-1]))
    print(f"{cpu_name()}, {os.cpu_count()} cores; factory {args.factory}, {DIM} dimensions; "
          "seconds (private MB after the step)")
    print(f"{'faces':>9} {'files MB':>9} " + " ".join(f"{s:>17}" for s in STEPS) + f" {'peak MB':>8}")
    for r in results:
        steps = {row["step"]: row for row in r["rows"]}
        cells = " ".join(f"{steps[s]['seconds']:>9.2f} ({steps[s]['anon_mb']:>5})" for s in STEPS)
        print(f"{r['faces']:>9,} {r['files_mb']:>9,} {cells} {r['peak_mb']:>8,}")
    report = {"machine": {"cpu": cpu_name(), "cores": os.cpu_count()}, "dim": DIM, "results": results}
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
