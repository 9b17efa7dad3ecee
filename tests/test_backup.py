"""`gallery backup` and `gallery restore`: a restore into an empty data folder gives the same status
and the same search results; a damaged backup or an occupied target is refused and nothing changes."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def _status(gallery_cli, settings, data_dir):
    out = json.loads(gallery_cli("status", "--json", "--config", settings.config_file, "--data-dir", data_dir).stdout)
    out.pop("database")
    for eset in out["embedding_sets"]:
        eset.pop("index_detail")
    return out


def _ranked(service, images):
    return [[(c.sitter, round(c.score, 5), [a.face_id for a in c.artworks]) for c in service.search(i).candidates]
            for i in images]


def test_backup_restores_to_the_same_status_and_search(indexed, gallery_cli, onnx_pipeline, tmp_path):
    from db.engine import open_database
    from gallery.search.service import SearchService
    from gallery.config.settings import load_settings

    settings, service, held_out, _database = indexed
    dest = tmp_path / "backup"
    made = gallery_cli("backup", dest, "--json", "--config", settings.config_file, "--data-dir", settings.data_dir)
    summary = json.loads(made.stdout)
    assert summary["backend"] == "sqlite" and summary["files"] >= 5 and not (tmp_path / "backup.partial").exists()
    manifest = json.loads((dest / "backup.json").read_text())
    assert {"gallery.db", "weights.json"} <= set(manifest["files"])
    assert any(name.endswith("/index.faiss") for name in manifest["files"])

    target = tmp_path / "restored"
    done = gallery_cli("restore", dest, "--config", settings.config_file, "--data-dir", target)
    assert "restored from" in done.stdout and "warning" not in done.stderr  # the weights are all here
    assert _status(gallery_cli, settings, target) == _status(gallery_cli, settings, settings.data_dir)
    restored = load_settings(settings.config_file, {"HOME": str(tmp_path)}, data_dir=str(target))
    again = SearchService(onnx_pipeline, open_database(restored.database_url), restored.index_dir)
    assert _ranked(again, held_out[:5]) == _ranked(service, held_out[:5])

    # an occupied target is never overwritten
    refused = gallery_cli("restore", dest, "--config", settings.config_file, "--data-dir", target, check=False)
    assert refused.returncode == 1 and "already holds a collection" in refused.stderr
    assert _status(gallery_cli, settings, target) == _status(gallery_cli, settings, settings.data_dir)
    # nor is an existing backup folder
    again_into = gallery_cli("backup", dest, "--config", settings.config_file, "--data-dir", settings.data_dir,
                             check=False)
    assert again_into.returncode == 1 and "not empty" in again_into.stderr


def test_a_damaged_backup_is_refused_before_anything_is_written(indexed, gallery_cli, tmp_path):
    settings = indexed[0]
    dest = tmp_path / "backup"
    gallery_cli("backup", dest, "--config", settings.config_file, "--data-dir", settings.data_dir)
    raw = bytearray((dest / "gallery.db").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (dest / "gallery.db").write_bytes(bytes(raw))
    target = tmp_path / "restored"
    refused = gallery_cli("restore", dest, "--config", settings.config_file, "--data-dir", target, check=False)
    assert refused.returncode == 1 and "damaged: gallery.db" in refused.stderr and "Traceback" not in refused.stderr
    assert not (target / "gallery.db").exists() and not (target / "index").exists()
    not_one = gallery_cli("restore", tmp_path, "--config", settings.config_file, "--data-dir", target, check=False)
    assert not_one.returncode == 1 and "is not a backup" in not_one.stderr
