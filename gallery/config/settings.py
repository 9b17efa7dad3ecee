"""The one typed settings object, built at the entry points and passed down.

Sources, later ones win: defaults < settings/profile file (TOML, `--config`)
< environment (GALLERY_*, HF_HUB_OFFLINE) < command-line flags.
No other module reads the environment.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping

from gallery.config.device import DEVICES, PRECISIONS
from gallery.core.errors import ConfigError
from gallery.config.profiles import ProfileSpec, builtin_profile, localise, profile_from_mapping
from gallery.weights.registry import REGISTRY

ENV_PREFIX = "GALLERY_"
REGION_STATUSES = ("confirmed", "probable")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


MIN_INT8_PICTURES = 10


@dataclass(frozen=True)
class Settings:
    profile: ProfileSpec
    data_dir: Path
    weights_dir: Path
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 | int8
    offline: bool = False  # never try the network for weights
    max_pixels: int = 400_000_000  # refuse larger images (decompression bombs)
    detect_max_side: int = 2048  # images are downscaled to this for detection; crops use full resolution
    batch_size: int = 32
    int8_pictures: int = 100  # int8: the collection's pictures an ONNX model is calibrated on (a fifth held out to check)
    db_url: str = ""  # any SQLAlchemy URL; empty = SQLite file <data_dir>/gallery.db
    index_factory: str = "auto"  # "auto" (chosen by size) or a FAISS factory string, e.g. "IVF4096,Flat"
    index_flat_max: int = 50_000  # auto: exact (Flat) search up to this many faces, IVF beyond
    index_target_recall: float = 0.99  # auto: the recall@10 an IVF index is tuned to reach
    index_map_bytes: int = 1 << 30  # an index's float16 vectors larger than this are memory-mapped, not read in
    workers: int = 0  # reader processes for indexing; 0 = one per core less one (at least 1)
    detect_workers: int = 0  # indexing and embedding: images detected at once, each by a detector of its own on a
    # share of the cores; 0 = automatic (SCRFD on a CPU: one per core, at most 4; otherwise 1), 1 = one at a time
    ray_actors: int = 0  # index --ray: model replicas; 0 = one per GPU, or the cluster's CPUs / ray_cpus_per_actor
    ray_cpus_per_actor: int = 4  # index --ray on CPUs: cores each replica's networks run on
    ray_readers: int = 0  # index --ray: files read in tasks of their own, this many at once (0: on GPUs only)
    thumbnail_size: int = 160  # longest side of the face thumbnails kept in the database
    match_threshold: float = 0.3  # fused score below which search answers "no confident match"
    max_upload_bytes: int = 50_000_000  # the curator's page refuses larger uploads
    serve_batch: int = 8  # the page: concurrent identify requests answered in one model call (1 = off)
    queue_size: int = 64  # the page: requests waiting beyond this get "busy, try again" (HTTP 503)
    decode_timeout_s: float = 120.0  # indexing: a file whose decoding takes longer is recorded as failed
    posthumous_years: int = 50  # dates: a work this long after the sitter's death is still plausible
    replica_score: float = 0.95  # replicas: two faces scoring this high (and alike as pictures) are one image
    explain_grid: int = 7  # explanations: occlusion positions per side (grid² + 1 crops per face and component)
    quality_floor: float = 0.45  # faces below: search warns, calibration/evaluation/training leave them out
    iiif_max_size: int = 2048  # IIIF import: images are asked for at most this many pixels a side
    http_timeout_s: float = 30.0  # IIIF import: connecting to, or waiting on, a server longer is a failure
    http_concurrency: int = 4  # IIIF import: images fetched at once
    # works from IIIF: the viewer a match's Content State link opens (the encoded state is appended, or put at {})
    iiif_viewer: str = "https://theseusviewer.org/?iiif-content="
    read_regions: bool = True  # indexing: named face regions in a picture's XMP become identifications
    region_status: str = "confirmed"  # ... with this status (confirmed | probable), source "metadata"
    config_file: Path | None = None

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ConfigError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        for key in ("max_pixels", "detect_max_side", "batch_size", "thumbnail_size", "max_upload_bytes",
                    "serve_batch", "queue_size", "iiif_max_size", "http_concurrency", "explain_grid",
                    "ray_cpus_per_actor"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"{key} must be a positive integer, got {getattr(self, key)!r}")
        if int(self.int8_pictures) < MIN_INT8_PICTURES:
            raise ConfigError(f"int8_pictures must be at least {MIN_INT8_PICTURES} (calibration needs faces to "
                              f"measure and a part held out to check), got {self.int8_pictures!r}")
        if self.region_status not in REGION_STATUSES:
            raise ConfigError(f"region_status must be one of {', '.join(REGION_STATUSES)}, got {self.region_status!r}")
        if self.http_timeout_s <= 0:
            raise ConfigError(f"http_timeout_s must be positive, got {self.http_timeout_s!r}")
        if self.decode_timeout_s <= 0:
            raise ConfigError(f"decode_timeout_s must be positive, got {self.decode_timeout_s!r}")
        if self.posthumous_years < 0:
            raise ConfigError(f"posthumous_years must be 0 or more, got {self.posthumous_years!r}")
        if self.index_flat_max < 0 or self.index_map_bytes < 0 or not 0 < self.index_target_recall <= 1:
            raise ConfigError(f"index_flat_max and index_map_bytes must be 0 or more and index_target_recall in "
                              f"(0, 1], got {self.index_flat_max!r}, {self.index_map_bytes!r} and "
                              f"{self.index_target_recall!r}")
        if self.workers < 0 or self.ray_actors < 0 or self.ray_readers < 0 or self.detect_workers < 0:
            raise ConfigError(f"workers, detect_workers, ray_actors and ray_readers must be 0 (automatic) or more, "
                              f"got {self.workers!r}, {self.detect_workers!r}, {self.ray_actors!r} and "
                              f"{self.ray_readers!r}")

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{Path(self.data_dir).expanduser().resolve() / 'gallery.db'}"

    @property
    def index_dir(self) -> Path:
        return Path(self.data_dir) / "index"

    @property
    def reader_processes(self) -> int:
        return self.workers or max(1, min(8, (os.cpu_count() or 2) - 1))


# keys a settings file and GALLERY_* variables may set (besides the profile tables)
_SCALAR_KEYS = {f.name: f.type for f in fields(Settings) if f.name not in ("profile", "config_file")}


def default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local" / "share")
    return Path(base) / "portrait-gallery"


def _coerce(key: str, value: Any) -> Any:
    kind = _SCALAR_KEYS[key]
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "Path":
            return Path(str(value)).expanduser()
        return str(value)
    except ValueError:
        raise ConfigError(f"setting {key}: cannot read {value!r} as {kind}") from None


def read_config_file(path: Path) -> dict[str, Any]:
    path = Path(path).expanduser()
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from None


def load_settings(
    config: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    **flags: Any,
) -> Settings:
    """Build settings from a config file, the environment and flags (None = not given)."""
    env = dict(env or {})
    config = config or env.get(ENV_PREFIX + "CONFIG") or None
    data: dict[str, Any] = read_config_file(Path(config)) if config else {}

    values: dict[str, Any] = {}
    for key in _SCALAR_KEYS:
        if key in data:
            values[key] = _coerce(key, data[key])
    for key in _SCALAR_KEYS:
        if ENV_PREFIX + key.upper() in env:
            values[key] = _coerce(key, env[ENV_PREFIX + key.upper()])
    if env.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        values["offline"] = True
    for key, value in flags.items():
        if key in _SCALAR_KEYS and value is not None:
            values[key] = _coerce(key, value)

    values.setdefault("data_dir", default_data_dir(env))
    values.setdefault("weights_dir", Path(values["data_dir"]) / "weights")
    profile = _select_profile(data, config, flags.get("profile") or env.get(ENV_PREFIX + "PROFILE"))
    unknown = set(data) - set(_SCALAR_KEYS) - {"profile", "name", "detector", "encoders"}
    if unknown:
        raise ConfigError(f"config file {config}: unknown keys {sorted(unknown)}")
    return Settings(profile=profile, config_file=Path(config) if config else None, **values)


def _select_profile(data: Mapping[str, Any], config: Any, override: str | None) -> ProfileSpec:
    if override:
        return builtin_profile(override)
    base = builtin_profile(str(data.get("profile", "base")))
    if "detector" in data or "encoders" in data:
        name = str(data.get("name") or Path(str(config)).stem)
        profile = profile_from_mapping(data, name, base)
        return localise(profile, Path(str(config)).expanduser().resolve().parent, REGISTRY)
    return base


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)


def file_scalars(settings: Settings) -> dict[str, Any]:
    """The settings (not the profile) that the settings' config file gives, as written there."""
    if settings.config_file is None:
        return {}
    data = read_config_file(settings.config_file)
    return {key: data[key] for key in _SCALAR_KEYS if key in data}
