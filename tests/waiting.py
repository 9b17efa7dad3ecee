"""Waiting on observable events, never on the clock: a busy CI machine may be many times slower
than a developer's, so a test waits for a row, a line or a port, bounded by a generous limit that
only a hung process ever reaches."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

GENEROUS_S = 600.0  # an upper bound for events that normally take seconds; reached only when something hangs
EVENT_MS = int(float(os.environ.get("GALLERY_TEST_EVENT_S", GENEROUS_S)) * 1000)  # the same for Playwright, which counts milliseconds


def wait_until(condition: Callable[[], object], what: str, limit_s: float = GENEROUS_S, every_s: float = 0.02,
               alive: subprocess.Popen | None = None):
    """Poll `condition` until it returns something truthy and return that. Fails with `what` after
    `limit_s`, or as soon as the `alive` process has exited without the condition being met."""
    deadline = time.monotonic() + limit_s
    while True:
        value = condition()
        if value:
            return value
        if alive is not None and alive.poll() is not None:
            value = condition()
            if value:
                return value
            raise AssertionError(f"the process exited ({alive.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {limit_s:.0f} s waiting for {what}")
        time.sleep(every_s)


def sqlite_count(path: Path, table: str) -> int:
    """Rows committed in `table` of a SQLite database another process writes (0 while the file or
    the table does not exist yet). Never creates the file."""
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is still being created
        return 0


_HOG = """
import os, sys, threading, time
stop = time.monotonic() + float(sys.argv[1])
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
while time.monotonic() < stop:
    sum(i * i for i in range(10_000))
"""


class CpuHog:
    """Busy processes, one per core by default, that load the machine while a test runs. Each stops
    by itself when the hog is closed (stdin closes) or after `max_s`, whichever comes first."""

    def __init__(self, processes: int, max_s: float = GENEROUS_S):
        self.procs = [subprocess.Popen([sys.executable, "-c", _HOG, str(max_s)], stdin=subprocess.PIPE)
                      for _ in range(processes)]

    def busy(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def close(self) -> None:
        for proc in self.procs:
            if proc.stdin:
                proc.stdin.close()
        for proc in self.procs:
            proc.wait(timeout=GENEROUS_S)
