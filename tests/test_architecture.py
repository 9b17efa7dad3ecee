"""The house keeps its shape: the layer contracts hold (and catch an upward import), the docs name no
file that is gone, and the public API's example runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gallery", "db", "indexer", "ui")
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(folder: Path) -> subprocess.CompletedProcess:
    if not LINT.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    return subprocess.run([str(LINT), "--no-cache"], cwd=folder, capture_output=True, text=True,
                          env={"PYTHONPATH": str(folder), "PATH": "/usr/bin:/bin"})


def test_the_layer_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "2 kept, 0 broken" in result.stdout


def test_an_upward_import_or_a_circle_breaks_the_contracts(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", tmp_path)
    errors = tmp_path / "gallery" / "core" / "errors.py"
    errors.write_text(errors.read_text() + "\n\ndef _late():\n    from gallery.search import service  # noqa\n")
    sitters = tmp_path / "db" / "identifications.py"
    sitters.write_text(sitters.read_text() + "\n\ndef _late2():\n    from db import sitters  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode == 1
    assert "gallery.core is not allowed to import gallery.search" in result.stdout
    assert "No cycles are allowed in db" in result.stdout


PATH = re.compile(r"`((?:gallery|db|indexer|ui|tests|benchmarks|scripts|profiles|docs|packaging)/[\w/.\-]*\w)`")


def test_the_docs_name_no_file_that_is_gone():
    pages = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "README.md",
             *sorted((ROOT / "docs").rglob("*.md"))]
    named = {(page.name, m.group(1)) for page in pages for m in PATH.finditer(page.read_text())}
    assert len(named) > 50  # the docs do name the files they describe
    gone = sorted((page, path) for page, path in named  # benchmarks/results/: what a benchmark run writes
                  if not (ROOT / path).exists() and not path.startswith("benchmarks/results/"))
    assert gone == []


def test_the_public_api_example_runs(indexed, lfw_dir):
    import gallery

    settings = indexed[0]
    assert set(gallery.__all__) >= {"load_settings", "FacePipeline", "open_search", "open_collection"}
    query = indexed[2][0]  # a held-out photograph of a sitter the collection holds
    faces = gallery.FacePipeline(settings).detect(gallery.load_image(query, settings.max_pixels))
    assert faces and len(faces[0].box) == 4
    result = gallery.open_search(settings).search(Path(query))
    assert result.candidates[0].sitter == query.parent.name.replace("_", " ")
    with pytest.raises(AttributeError):
        gallery.not_a_public_name  # noqa: B018


def test_importing_gallery_loads_nothing_heavy():
    code = ("import sys, gallery, gallery.cli; "
            "print(sorted(m for m in ('torch', 'gradio', 'faiss', 'onnxruntime', 'sqlalchemy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
