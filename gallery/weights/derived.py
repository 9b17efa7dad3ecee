"""Models derived from a weights file (the batch-free rewrite of an ONNX recogniser, the int8
version of an ONNX model), made once, checked, and cached beside the weights under
`<weights_dir>/derived/`: `<source sha256>.<kind>.onnx` and a record `<source sha256>.<kind>.json`
that names the source's sha256, the derived file's sha256, how the derived model was checked
against the source and, where measured, what the check found (`measured`, with `kept`: whether
the derived model keeps the source's answers).

A later process opens the cached file after checking its sha256, without making it again (for an
ONNX rewrite that is the ONNX graph library's 0.9 s import, the rewrite and a second session to
check it). A damaged or missing file counts as not made; a source that cannot be derived this way
is recorded as such and not tried again. A cache that cannot be written is only a warning: the
derived model is used in this process and made again in the next."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from gallery.weights.hashing import sha256_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Derived:
    """What the cache knows of a source: the derived file, or None when it cannot be derived."""

    path: Path | None
    check: str
    measured: dict | None = None

    @property
    def kept(self) -> bool:
        """Whether the check found the derived model keeps the source's answers."""
        return bool(self.path and self.measured and self.measured.get("kept"))

    @property
    def sha256(self) -> str:
        return str((self.measured or {}).get("sha256", ""))


def _record(cache: Path, source_sha256: str, kind: str) -> Path:
    return cache / f"{source_sha256}.{kind}.json"


def cached(cache: Path, source_sha256: str, kind: str) -> Derived | None:
    """What an earlier process derived from the source of that sha256; None when nothing usable is
    recorded (never made, or the derived file missing or changed since)."""
    try:
        record = json.loads(_record(cache, source_sha256, kind).read_text())
        if record["source_sha256"] != source_sha256:
            return None
        if record["file"] is None:
            return Derived(None, record["check"])
        path = cache / record["file"]
        if sha256_path(path) != record["sha256"]:
            log.warning("derived model %s does not match its recorded sha256; making it again", path)
            return None
        measured = record.get("measured")
        return Derived(path, record["check"], dict(measured, sha256=record["sha256"]) if measured else None)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(cache: Path, source_sha256: str, kind: str, model: bytes | None, check: str,
             measured: dict | None = None) -> Derived:
    """Record what was derived from the source (`model` None: it cannot be) and what its check
    `measured`, the file first and the record last, each written whole (a crash leaves no half
    file taken for a model)."""
    name = None if model is None else f"{source_sha256}.{kind}.onnx"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        digest = None
        if model is not None:
            _write_whole(cache / name, model)
            digest = sha256_path(cache / name)
        record = {"source_sha256": source_sha256, "kind": kind, "file": name, "sha256": digest, "check": check}
        if measured is not None:
            record["measured"] = measured
        _write_whole(_record(cache, source_sha256, kind), json.dumps(record, indent=1).encode())
    except OSError as err:
        log.warning("cannot cache the %s model in %s (%s); it is made again next time", kind, cache, err)
        return Derived(None, check, measured)
    if name is None:
        return Derived(None, check, measured)
    return Derived(cache / name, check, dict(measured, sha256=digest) if measured else None)


def _write_whole(path: Path, data: bytes) -> None:
    """`data` at `path` whole or not at all: a failed write (a full disk) leaves no partial file
    taking the space the collection needs."""
    partial = path.with_name(path.name + f".{os.getpid()}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise
