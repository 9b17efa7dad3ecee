"""The page under load: concurrent identify requests are all answered (batched at the model),
requests beyond the queue get a clear "busy, try again", and searching while a collection is
being indexed into the same database and index meets no error."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading

import pytest

from tests.collections import copy_sitters
from tests.test_ui import _client, _free_port
from tests.waiting import GENEROUS_S

pytestmark = pytest.mark.slow


def _identify_all(url: str, images, clients: int) -> dict:
    from gradio_client import handle_file

    outcome = {"answers": [], "busy": [], "other": []}

    def one(image):
        try:
            verdict = _client(url).predict(handle_file(str(image)), 5, -1.0, api_name="/identify")[3]
            outcome["answers"].append(verdict)
        except Exception as err:  # noqa: BLE001 (sorted below)
            outcome["busy" if "Queue is full" in str(err) else "other"].append(str(err))

    threads = [threading.Thread(target=one, args=(images[n % len(images)],)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GENEROUS_S)
    assert not any(t.is_alive() for t in threads)  # nobody hangs
    return outcome


def test_concurrent_identify_is_batched_and_all_answered(indexed):
    from gallery.config.settings import with_overrides
    from ui.server import launch

    settings, _service, held_out, _db = indexed
    port = _free_port()
    demo = launch(with_overrides(settings, serve_batch=4), port=port, block=False)
    try:
        outcome = _identify_all(f"http://127.0.0.1:{port}/", held_out, 8)
        assert outcome["other"] == [] and outcome["busy"] == []
        assert len(outcome["answers"]) == 8 and all("Best candidate" in v for v in outcome["answers"])
    finally:
        demo.close()


def test_requests_beyond_the_queue_are_told_to_try_again(indexed):
    from gallery.config.settings import with_overrides
    from ui.server import launch

    settings, _service, held_out, _db = indexed
    port = _free_port()
    demo = launch(with_overrides(settings, serve_batch=1, queue_size=1), port=port, block=False)
    try:
        outcome = _identify_all(f"http://127.0.0.1:{port}/", held_out, 12)
        assert outcome["other"] == []
        assert outcome["busy"] and outcome["answers"]  # some were told to come back, the rest answered
        assert len(outcome["busy"]) + len(outcome["answers"]) == 12
        # and the server is still there
        assert "faces" in _client(f"http://127.0.0.1:{port}/").predict(api_name="/status")[0]
    finally:
        demo.close()


def test_search_while_indexing_meets_no_error(indexed, lfw_dir, onnx_profile, onnx_pipeline, env, tmp_path):
    from db.engine import open_database
    from gallery.search.service import SearchService
    from gallery.config.settings import with_overrides

    settings, _service, held_out, _db = indexed
    data = tmp_path / "data"
    shutil.copytree(settings.data_dir, data)
    live = with_overrides(settings, data_dir=data)
    service = SearchService(onnx_pipeline, open_database(live.database_url), live.index_dir)
    more = tmp_path / "more"
    copy_sitters(lfw_dir, more, 40)
    command = [sys.executable, "-m", "gallery", "index", str(more), "--config", str(onnx_profile),
               "--data-dir", str(data)]
    indexer = subprocess.Popen(command, env={**env, "GALLERY_BATCH_SIZE": "8"}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    searches, seen = 0, set()
    while indexer.poll() is None:  # ends with the indexer: an observable event, not a duration
        result = service.search(held_out[searches % len(held_out)])
        assert result.candidates
        seen.add(len(service.index()))
        searches += 1
    assert indexer.wait(GENEROUS_S) == 0, indexer.stderr.read()[-2000:]
    assert searches >= 3
    final = service.search(held_out[0])
    assert final.candidates and len(service.index()) > min(seen)  # the indexer's additions became searchable
