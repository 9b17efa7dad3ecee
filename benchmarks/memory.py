"""A process's memory as /proc reports it (Linux), for the benchmarks that measure it."""

from __future__ import annotations

from pathlib import Path


def memory_bytes(pid: int | str = "self") -> dict[str, int]:
    """The memory lines of /proc/PID/status (VmRSS, VmHWM, RssAnon, RssFile, ...), in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        amount = value.split()
        if len(amount) == 2 and amount[1] == "kB":
            fields[key] = int(amount[0]) * 1024
    return fields
