"""The local weights cache: find, verify, download and import weight files.

Every cache hit and every download is checked against the registry's sha256
(or the hash pinned at first download for entries without a published one).
Offline (settings.offline, i.e. HF_HUB_OFFLINE=1 or GALLERY_OFFLINE=1), a
missing file fails at once with its source and the `weights import` hint.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from gallery.core.errors import ChecksumMismatch, WeightsUnavailable
from gallery.weights.hashing import sha256_path
from gallery.weights.registry import REGISTRY, WeightEntry

PIN_SUFFIX = ".sha256"
CONNECT_TIMEOUT_S = 10.0

Progress = Callable[[int, int | None], None]  # bytes so far, total bytes or None


@dataclass(frozen=True)
class ResolvedWeights:
    """A weights file on disk with the hash it was verified against."""

    ref: str  # registry name or the path the user named
    path: Path
    sha256: str


@dataclass(frozen=True)
class CacheState:
    entry: WeightEntry
    path: Path
    present: bool
    verified: bool | None  # None when not present
    detail: str


def _offline_hint(entry: WeightEntry, target: Path) -> str:
    return (
        f"weights '{entry.name}' ({entry.filename}) are not in the cache at {target}. "
        f"Source: {entry.source}. On a machine without internet, fetch the file elsewhere and run "
        f"`gallery weights import DIR` with the folder holding it."
    )


class WeightStore:
    def __init__(self, root: Path, offline: bool = False, registry: dict[str, WeightEntry] | None = None):
        self.root = Path(root)
        self.offline = offline
        self.registry = REGISTRY if registry is None else registry
        self._hashes: dict[Path, tuple[int, int, str]] = {}

    def sha256(self, path: Path) -> str:
        """sha256 of a file or folder, computed once per process while the file is unchanged."""
        path = Path(path)
        stat = path.stat()
        key = (stat.st_size, stat.st_mtime_ns)
        cached = self._hashes.get(path)
        if path.is_file() and cached and cached[:2] == key:
            return cached[2]
        digest = sha256_path(path)
        self._hashes[path] = (*key, digest)
        return digest

    # -- lookup ---------------------------------------------------------------
    def entry(self, name: str) -> WeightEntry:
        try:
            return self.registry[name]
        except KeyError:
            known = ", ".join(sorted(self.registry))
            raise WeightsUnavailable(f"unknown weights name '{name}'; known names: {known}") from None

    def cache_path(self, entry: WeightEntry) -> Path:
        return self.root / entry.filename

    def resolve(self, ref: str) -> ResolvedWeights:
        """A registry name (fetched and verified) or a path the user named."""
        if ref in self.registry:
            entry = self.registry[ref]
            path = self.ensure(entry)
            return ResolvedWeights(ref, path, self.sha256(path))
        path = Path(ref).expanduser()
        if not path.exists():
            raise WeightsUnavailable(
                f"weights file {path} does not exist (and '{ref}' is not a registry name; "
                f"`gallery weights list` shows the names)"
            )
        return ResolvedWeights(ref, path.resolve(), self.sha256(path.resolve()))

    # -- verification ---------------------------------------------------------
    def expected_hash(self, entry: WeightEntry, path: Path) -> tuple[str | None, str]:
        """(expected sha256 or prefix, where it comes from)."""
        if entry.sha256:
            return entry.sha256, "registry"
        if entry.sha256_prefix:
            return entry.sha256_prefix, "registry (prefix)"
        pin = path.with_name(path.name + PIN_SUFFIX)
        if pin.is_file():
            return pin.read_text().strip(), "pinned at download"
        return None, "none known"

    def check(self, entry: WeightEntry, path: Path) -> str:
        """Verify a file against its expected hash; returns the actual sha256."""
        actual = self.sha256(path)
        expected, origin = self.expected_hash(entry, path)
        if expected and not actual.startswith(expected):
            raise ChecksumMismatch(
                f"weights '{entry.name}' at {path} have sha256 {actual}, expected {expected} ({origin}). "
                f"The file is corrupt or not the one named; delete it and run "
                f"`gallery weights download {entry.name}` (or `gallery weights import DIR`)."
            )
        return actual

    def _pin(self, entry: WeightEntry, path: Path, digest: str) -> None:
        if not entry.sha256 and not entry.sha256_prefix:
            path.with_name(path.name + PIN_SUFFIX).write_text(digest + "\n")

    def ensure(self, entry: WeightEntry, progress: Progress | None = None) -> Path:
        path = self.cache_path(entry)
        if path.exists():
            self.check(entry, path)
            return path
        if entry.url is None:
            raise WeightsUnavailable(
                f"weights '{entry.name}' are not at {path}: they are not downloadable, {entry.how_to_get}"
            )
        if self.offline:
            raise WeightsUnavailable(_offline_hint(entry, path) + " (offline mode is on: HF_HUB_OFFLINE/GALLERY_OFFLINE)")
        return self.download(entry, progress)

    def state(self, entry: WeightEntry) -> CacheState:
        path = self.cache_path(entry)
        if not path.exists():
            return CacheState(entry, path, False, None, "not in cache")
        try:
            self.check(entry, path)
        except ChecksumMismatch as err:
            return CacheState(entry, path, True, False, str(err))
        expected, origin = self.expected_hash(entry, path)
        return CacheState(entry, path, True, True, f"sha256 ok ({origin})" if expected else "no hash known")

    # -- download -------------------------------------------------------------
    def download(self, entry: WeightEntry, progress: Progress | None = None) -> Path:
        if entry.url is None:
            raise WeightsUnavailable(f"weights '{entry.name}' cannot be downloaded: {entry.how_to_get}")
        if self.offline:
            raise WeightsUnavailable(_offline_hint(entry, self.cache_path(entry)))
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".download-") as tmp:
            fetched = Path(tmp) / "fetched"
            self._fetch(entry, fetched, progress)
            payload = self._extract_member(entry, fetched, Path(tmp)) if entry.member else fetched
            return self._install(entry, payload)

    def _fetch(self, entry: WeightEntry, dest: Path, progress: Progress | None) -> None:
        try:
            with urllib.request.urlopen(entry.url, timeout=CONNECT_TIMEOUT_S) as response, open(dest, "wb") as out:
                total = response.headers.get("Content-Length")
                total = int(total) if total else None
                done = 0
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            raise WeightsUnavailable(
                _offline_hint(entry, self.cache_path(entry)) + f" Download failed: {err}"
            ) from err

    @staticmethod
    def _extract_member(entry: WeightEntry, archive: Path, tmp: Path) -> Path:
        try:
            with zipfile.ZipFile(archive) as zf:
                names = zf.namelist()
                member = entry.member if entry.member in names else next(
                    (n for n in names if n.endswith("/" + entry.member) or n.split("/")[-1] == entry.member), None
                )
                if member is None:
                    raise WeightsUnavailable(f"{entry.url} does not contain {entry.member}")
                out = tmp / "member"
                with zf.open(member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                return out
        except zipfile.BadZipFile as err:
            raise WeightsUnavailable(f"{entry.url} is not a valid zip archive: {err}") from err

    def _install(self, entry: WeightEntry, source: Path) -> Path:
        """Verify `source`, then move or copy it into the cache atomically."""
        digest = self.check(entry, source)
        target = self.cache_path(entry)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.incoming")
        if staging.exists():
            shutil.rmtree(staging) if staging.is_dir() else staging.unlink()
        if source.is_dir():
            shutil.copytree(source, staging)
        else:
            shutil.copyfile(source, staging)
            with open(staging, "rb") as handle:
                os.fsync(handle.fileno())
        if target.exists() and target.is_dir():
            shutil.rmtree(target)
        os.replace(staging, target)
        self._pin(entry, target, digest)
        return target

    # -- import (air-gapped machines) ------------------------------------------
    def import_dir(self, folder: Path) -> list[tuple[str, str]]:
        """Copy every known weights file found under `folder` into the cache.

        Files are matched by name, inside the registry's zip packs, or (renamed
        files) by their sha256 where the registry knows it. Returns (name,
        outcome) for every registry entry that was found.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise WeightsUnavailable(f"{folder} is not a folder")
        results = []
        by_hash: dict[str, Path] | None = None
        for entry in self.registry.values():
            found = self._find_in(folder, entry)
            if found is None and entry.sha256:
                if by_hash is None:
                    by_hash = self._hash_candidates(folder)
                found = by_hash.get(entry.sha256)
            if found is None:
                continue
            try:
                with tempfile.TemporaryDirectory(dir=self._ensure_root(), prefix=".import-") as tmp:
                    source = found
                    if found.suffix == ".zip" and entry.member:
                        source = self._extract_member(entry, found, Path(tmp))
                    self._install(entry, source)
                results.append((entry.name, f"imported from {found}"))
            except (ChecksumMismatch, WeightsUnavailable) as err:
                results.append((entry.name, f"REJECTED: {err}"))
        return results

    def _ensure_root(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root

    def _hash_candidates(self, folder: Path) -> dict[str, Path]:
        suffixes = {".onnx", ".pth", ".pt", ".bin", ".safetensors"}
        return {self.sha256(p): p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in suffixes}

    @staticmethod
    def _find_in(folder: Path, entry: WeightEntry) -> Path | None:
        direct = sorted(folder.rglob(entry.filename))
        if direct:
            return direct[0]
        if entry.url and entry.member:
            archive_name = entry.url.rsplit("/", 1)[-1]
            packs = sorted(folder.rglob(archive_name))
            if packs:
                return packs[0]
        return None
