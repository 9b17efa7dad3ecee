"""Shared fixtures: the real models and faces in ../shared, temporary folders, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MODELS = SHARED / "models"
LFW = SHARED / "data" / "lfw-mini"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"test material {path} is absent (see ../shared/README.md)")
    return path


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return _require(MODELS)


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    return _require(LFW)


@pytest.fixture(scope="session")
def group_photo() -> Path:
    import insightface

    return _require(Path(insightface.__file__).parent / "data" / "images" / "t1.jpg")


def write_profile(path: Path, models: Path, detector: str = "scrfd", extra: str = "") -> Path:
    det_file = {"scrfd": "scrfd_500m.onnx", "yunet": "face_detection_yunet_2023mar.onnx"}[detector]
    path.write_text(
        f'[detector]\nkind = "{detector}"\nweights = "{models / det_file}"\n\n'
        f'[[encoders]]\nname = "mobilefacenet"\nkind = "onnx"\nweights = "{models / "mobilefacenet.onnx"}"\n'
        f"weight = 1.0\n{extra}"
    )
    return path


@pytest.fixture(scope="session")
def onnx_profile(tmp_path_factory, models_dir) -> Path:
    """A profile of the real shared models: SCRFD-500M + MobileFaceNet."""
    return write_profile(tmp_path_factory.mktemp("profile") / "onnx.toml", models_dir)


@pytest.fixture()
def env(tmp_path) -> dict:
    """An environment for CLI runs: offline, data and weights in a temporary folder."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    out.update(HF_HUB_OFFLINE="1", GALLERY_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1")
    return out


@pytest.fixture()
def gallery_cli(env):
    """Run the real `gallery` command in a subprocess."""

    def run(*args, check=True, timeout=600):
        proc = subprocess.run([sys.executable, "-m", "gallery", *map(str, args)], env=env, capture_output=True,
                              text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"gallery {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    return run


@pytest.fixture(scope="session")
def onnx_settings(onnx_profile, tmp_path_factory):
    from gallery.config.settings import load_settings

    home = tmp_path_factory.mktemp("home")
    return load_settings(onnx_profile, {"HOME": str(home), "HF_HUB_OFFLINE": "1"})


@pytest.fixture(scope="session")
def onnx_pipeline(onnx_settings):
    from gallery.faces.pipeline import FacePipeline

    return FacePipeline(onnx_settings)


@pytest.fixture()
def cpu_hog():
    """The machine loaded by one busy process per core for the length of the test."""
    from tests.waiting import CpuHog

    hog = CpuHog(os.cpu_count() or 2)
    yield hog
    hog.close()


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on loopback (installed by .ci/run; skipped where it cannot be)."""
    from tests.postgres import server_binaries, temporary_server

    if server_binaries() is None:
        pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql; .ci/run does)")
    try:
        import psycopg  # noqa: F401  (the driver the URL names)
    except ImportError:
        pytest.skip("the psycopg driver is not installed (pip install 'portrait-gallery[postgres]')")
    with temporary_server() as url:
        yield url


@pytest.fixture(scope="module")
def indexed(lfw_dir, onnx_profile, onnx_pipeline, tmp_path_factory, group_photo):
    """20 lfw-mini sitters indexed with one portrait each held out, plus an unlabelled group photo:
    (settings, search service, held-out images, database). One per test module."""
    import shutil

    from db.engine import open_database
    from gallery.search.service import SearchService
    from gallery.config.settings import load_settings
    from indexer.runner import index_collection
    from tests.collections import copy_sitters

    root = tmp_path_factory.mktemp("search")
    collection = root / "collection"
    held_out = copy_sitters(lfw_dir, collection, 20, skip_first=True)
    shutil.copy(group_photo, collection / "group.jpg")
    settings = load_settings(onnx_profile, {"HOME": str(root)}, data_dir=str(root / "data"), workers=0)
    index_collection(settings, collection, pipeline=onnx_pipeline)
    database = open_database(settings.database_url)
    return settings, SearchService(onnx_pipeline, database, settings.index_dir), held_out, database
