#!/usr/bin/env python3
"""Build the upgrade test collections: one collection made by each earlier release of the product.

For every release in RELEASES this checks the release's commit out into a temporary git worktree,
runs *that release's own code* (its `gallery` command and its library, with this project's virtual
environment) on a small folder of real faces from ../shared/data/lfw-mini, and keeps the resulting
data folder (the SQLite database and the vector index as that release wrote them) with what that
release answered (status, a search, every identification) under tests/data/releases/<version>/.
tests/test_upgrade.py then upgrades each one with today's code and compares.

The collection holds what a curated collection holds at that release: folder-labelled sitters,
unlabelled faces, sitters imported from a CSV with dates and Wikidata ids, a calibration, and
curator decisions of every status (confirmed, probable, disputed, rejected, reassigned); from
0.3.0 a renamed and a merged sitter; from 0.4.0 replica decisions; 0.5.0 stores face quality; 0.6.0 is the last release before hand-drawn and rejected faces.

Run from the repository root (needs git history, ../shared and an installed .venv):
    .venv/bin/python scripts/build-upgrade-fixtures.py [VERSION ...]
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
LFW = SHARED / "data" / "lfw-mini"
OUT = ROOT / "tests" / "data" / "releases"
# Where each release's collection folder lies while it is built: the artworks' paths point here.
COLLECTION = Path("/tmp/portrait-gallery-upgrade/collection")

# version -> (commit: the last commit of that release, schema it has); the CHANGELOG lists the same
RELEASES = {
    "0.1.0": ("b874d82", "0002"),
    "0.2.0": ("283943f", "0003"),
    "0.3.0": ("f95bf6c", "0004"),
    "0.4.0": ("5ebf0b5", "0005"),
    "0.5.0": ("3da4ed8", "0006"),
    "0.6.0": ("79e1ecd", "0006"),
}
LABELLED = 12  # sitters with a folder of their own (4 photographs each); calibration needs 10
UNLABELLED = 4  # people whose photographs lie loose in the collection, unnamed
QUERY = "Al_Gore/Al_Gore_0002.jpg"  # held out of the collection: searched before and after

PROFILE = """[detector]
kind = "scrfd"
weights = "{models}/scrfd_500m.onnx"

[[encoders]]
name = "mobilefacenet"
kind = "onnx"
weights = "{models}/mobilefacenet.onnx"
weight = 1.0
"""

# Run inside the release's own code: the curator's decisions that release could record.
CURATE = r'''
import json, sys
from db.engine import open_database
from db.schema import Artwork, Face
try:
    from db.decisions import curate  # 0.6.0 on
except ImportError:
    from db.identifications import curate
database = open_database(sys.argv[1])
done = []
with database.session() as session:
    loose = (session.query(Face).join(Artwork, Artwork.id == Face.artwork_id)
             .filter(~Artwork.path.contains("/named/")).order_by(Artwork.path, Face.face_index).all())
    named = (session.query(Face).join(Artwork, Artwork.id == Face.artwork_id)
             .filter(Artwork.path.contains("/named/")).order_by(Artwork.path, Face.face_index).all())
    for face, action, name in ((loose[0], "confirmed", "Unknown Donor"), (loose[1], "probable", "Unknown Donor"),
                               (loose[2], "disputed", "Unknown Donor"), (loose[4], "confirmed", "Second Donor")):
        curate(session, face.id, action, name, "anna", note=f"{action} by the fixture")
        done.append((face.id, action))
    from db.identifications import current_identifications
    current = {c.face_id: c for c in current_identifications(session)}
    first = current[named[0].id]
    curate(session, named[0].id, "rejected", first.sitter_name if hasattr(first, "sitter_name") else
           session.get(__import__("db.schema", fromlist=["Sitter"]).Sitter, first.sitter_id).name, "ben",
           note="not the sitter")
    second = current[named[5].id]
    curate(session, named[5].id, "reassign", "Unknown Donor", "ben", from_sitter_id=second.sitter_id)
print(json.dumps(done))
'''

REPLICAS = r'''
import sys
from db.engine import open_database
from db.replicas import decide_replicas
from db.schema import Artwork
database = open_database(sys.argv[1])
with database.session() as session:
    ids = [a.id for a in session.query(Artwork).order_by(Artwork.path)]
    decide_replicas(session, ids[0], ids[1], False, "anna", "different sittings")
    decide_replicas(session, ids[2], ids[3], True, "anna", "the same painting photographed twice")
'''


def run(worktree: Path, *args: str, capture: bool = False) -> str:
    env = {**os.environ, "PYTHONPATH": str(worktree), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, *args], cwd=worktree, env=env, text=True,
                          capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} failed in {worktree}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout if capture else ""


def gallery(worktree: Path, data: Path, profile: Path, *args: str) -> str:
    return run(worktree, "-m", "gallery", *args, "--config", str(profile), "--data-dir", str(data), capture=True)


def lay_collection() -> list[str]:
    shutil.rmtree(COLLECTION.parent, ignore_errors=True)
    people = sorted(p.name for p in LFW.iterdir() if p.is_dir())
    named = people[:LABELLED]
    for person in named:
        target = COLLECTION / "named" / person
        target.mkdir(parents=True)
        for image in sorted((LFW / person).glob("*.jpg")):
            if image != LFW / QUERY:
                shutil.copy2(image, target / image.name)
    for person in people[LABELLED:LABELLED + UNLABELLED]:
        for image in sorted((LFW / person).glob("*.jpg"))[:3]:
            shutil.copy2(image, COLLECTION / image.name)
    sitters_csv = COLLECTION.parent / "sitters.csv"
    rows = ["name,birth_year,death_year,wikidata"]
    rows += [f"{p.replace('_', ' ')},{1900 + i},{1990 + i},Q{1000 + i}" for i, p in enumerate(named)]
    sitters_csv.write_text("\n".join(rows) + "\n")
    return named


def build(version: str) -> None:
    commit, schema = RELEASES[version]
    work = Path(tempfile.mkdtemp(prefix=f"gallery-{version}-"))
    worktree = work / "code"
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), commit], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        named = lay_collection()
        data = COLLECTION.parent / "data"
        profile = COLLECTION.parent / "profile.toml"
        profile.write_text(PROFILE.format(models=SHARED.resolve() / "models"))
        gallery(worktree, data, profile, "index", str(COLLECTION))
        gallery(worktree, data, profile, "sitters", "import", str(COLLECTION.parent / "sitters.csv"))
        if schema >= "0003":
            gallery(worktree, data, profile, "calibrate")
        url = f"sqlite:///{data / 'gallery.db'}"
        run(worktree, "-c", CURATE, url)
        if schema >= "0004":
            first, second = (n.replace("_", " ") for n in named[:2])
            gallery(worktree, data, profile, "sitters", "rename", first, first + " (the elder)", "--curator", "anna")
            gallery(worktree, data, profile, "sitters", "merge", "Second Donor", "Unknown Donor", "--curator", "anna")
        if schema >= "0005":
            run(worktree, "-c", REPLICAS, url)
        expected = {
            "version": version, "commit": commit, "schema": schema, "collection": str(COLLECTION),
            "query": QUERY,
            "status": json.loads(gallery(worktree, data, profile, "status", "--json")),
            "search": json.loads(gallery(worktree, data, profile, "search", str(LFW / QUERY), "--json")),
        }
        with closing(sqlite3.connect(data / "gallery.db")) as connection:  # fold the WAL into the file
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        target = OUT / version
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copytree(data, target / "data", ignore=shutil.ignore_patterns("*-wal", "*-shm", "backups", "derived"))
        (target / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
        print(f"{version}: schema {schema}, {expected['status'].get('counts') or expected['status'].get('faces')} faces")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    for wanted in sys.argv[1:] or list(RELEASES):
        build(wanted)
