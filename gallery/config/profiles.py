"""Profiles: which detector and which encoders (with fusion weights) to use.

Built-in profiles:
  base     CLIP ViT-B/16 (OpenAI) + IResNet100-base; public weights only.
  artface  CLIP ViT-B/16 + LoRA adapter + IResNet100-base + IResNet100-tuned:
           the ArtFace fusion; needs the adapted weights (`gallery train`).

A profile file (TOML) describes any detector and encoder list; see README.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Collection, Mapping

from gallery.core.errors import ConfigError

DETECTOR_KINDS = ("scrfd", "yunet")
ENCODER_KINDS = ("clip", "iresnet100", "onnx")


@dataclass(frozen=True)
class DetectorSpec:
    kind: str = "scrfd"
    weights: str = "scrfd-10g"  # registry name or path
    input_size: int = 640
    threshold: float = 0.5
    nms_threshold: float = 0.4
    # Painted portraits are often tight close-ups; the image is padded by this
    # fraction of its size on every side before detection so a face that fills
    # the frame (or is cut by it) still has the context the detector was trained on.
    pad: float = 0.25
    # The smallest face (box side in full-resolution pixels) to find anywhere in a large scan: tiled
    # passes are added where the whole-image pass cannot see it (gallery.faces.detection). 28 px is an
    # inter-ocular distance of about 13-15 px; 0 = the whole-image pass only.
    min_face: int = 28

    def __post_init__(self):
        if self.kind not in DETECTOR_KINDS:
            raise ConfigError(f"detector kind must be one of {DETECTOR_KINDS}, got {self.kind!r}")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"detector threshold must be in (0, 1), got {self.threshold}")
        if self.input_size < 64 or self.input_size % 32:
            raise ConfigError(f"detector input_size must be a multiple of 32 >= 64, got {self.input_size}")
        if not 0.0 <= self.pad <= 1.0:
            raise ConfigError(f"detector pad must be in [0, 1], got {self.pad}")
        if self.min_face != 0 and not 8 <= self.min_face <= 4096:
            raise ConfigError(f"detector min_face must be 0 (no tiles) or 8..4096 pixels, got {self.min_face}")


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    kind: str
    weights: str | None  # registry name or path; None = random init (tests, plumbing)
    weight: float = 1.0  # fusion weight
    adapter: str | None = None  # CLIP only: LoRA adapter folder (registry name or path)
    options: Mapping[str, Any] = field(default_factory=dict)
    flip: bool = False  # test-time augmentation: embed the crop and its mirror, average (see the README)

    def __post_init__(self):
        if self.kind not in ENCODER_KINDS:
            raise ConfigError(f"encoder '{self.name}': kind must be one of {ENCODER_KINDS}, got {self.kind!r}")
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"encoder name must be letters, digits, '-' or '_', got {self.name!r}")
        if not self.weight > 0:
            raise ConfigError(f"encoder '{self.name}': fusion weight must be > 0, got {self.weight}")
        if self.adapter and self.kind != "clip":
            raise ConfigError(f"encoder '{self.name}': only clip encoders take an adapter")
        if self.kind == "onnx" and not self.weights:
            raise ConfigError(f"encoder '{self.name}': an onnx encoder needs a weights file")


@dataclass(frozen=True)
class ProfileSpec:
    name: str
    detector: DetectorSpec
    encoders: tuple[EncoderSpec, ...]

    def __post_init__(self):
        if not self.encoders:
            raise ConfigError(f"profile '{self.name}' has no encoders")
        names = [e.name for e in self.encoders]
        if len(set(names)) != len(names):
            raise ConfigError(f"profile '{self.name}': encoder names must be unique, got {names}")


_CLIP = EncoderSpec("clip", "clip", "clip-vit-b-16-openai")
_IRESNET_BASE = EncoderSpec("iresnet_base", "iresnet100", "iresnet100-ms1mv3")

BUILTIN_PROFILES: dict[str, ProfileSpec] = {
    "base": ProfileSpec("base", DetectorSpec(), (_CLIP, _IRESNET_BASE)),
    "artface": ProfileSpec(
        "artface",
        DetectorSpec(),
        (
            EncoderSpec("clip_lora", "clip", "clip-vit-b-16-openai", adapter="artface-clip-lora"),
            _IRESNET_BASE,
            EncoderSpec("iresnet_tuned", "iresnet100", "iresnet100-tuned"),
        ),
    ),
}


def builtin_profile(name: str) -> ProfileSpec:
    try:
        return BUILTIN_PROFILES[name]
    except KeyError:
        raise ConfigError(
            f"unknown profile '{name}'; built-in profiles: {', '.join(BUILTIN_PROFILES)} "
            f"(or describe one in a --config file)"
        ) from None


def _typed(table: Mapping[str, Any], cls, where: str, **extra):
    known = set(cls.__dataclass_fields__)
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(known)}")
    try:
        return cls(**{**table, **extra})
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from err


def profile_from_mapping(data: Mapping[str, Any], name: str, fallback: ProfileSpec) -> ProfileSpec:
    """Build a profile from a parsed TOML file's [detector] and [[encoders]] tables.

    A file that gives only one of the two takes the other from `fallback`.
    """
    detector = fallback.detector
    if "detector" in data:
        detector = _typed(data["detector"], DetectorSpec, "[detector]")
    encoders = fallback.encoders
    if "encoders" in data:
        raw = data["encoders"]
        if not isinstance(raw, list):
            raise ConfigError("[[encoders]] must be an array of tables")
        for i, table in enumerate(raw):
            if "weights" not in table:
                raise ConfigError(f"[[encoders]] #{i + 1}: needs a weights file: `weights` = a registry name "
                                  f"(`gallery weights list`) or a path")
        encoders = tuple(_typed(dict(e), EncoderSpec, f"[[encoders]] #{i + 1}") for i, e in enumerate(raw))
    return ProfileSpec(name, detector, encoders)


def localise(profile: ProfileSpec, base_dir: Path, registry_names: Collection[str]) -> ProfileSpec:
    """Resolve relative weights paths in a profile file against the file's folder."""

    def fix(ref: str | None) -> str | None:
        if ref is None or ref in registry_names or Path(ref).expanduser().is_absolute():
            return ref
        return str((base_dir / ref).resolve())

    detector = replace(profile.detector, weights=fix(profile.detector.weights))
    encoders = tuple(replace(e, weights=fix(e.weights), adapter=fix(e.adapter)) for e in profile.encoders)
    return replace(profile, detector=detector, encoders=encoders)


def _toml_value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def profile_toml(profile: ProfileSpec, scalars: Mapping[str, Any] | None = None, note: str = "") -> str:
    """A settings file (`--config`) that describes `profile` in full, with `scalars` (settings such
    as db_url) above it; weights given as paths stay paths (relative ones resolve against the file)."""
    lines = [f"# {line}" for line in note.splitlines()] + [f"name = {_toml_value(profile.name)}"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in (scalars or {}).items()]
    detector = profile.detector
    lines += ["", "[detector]"] + [f"{f} = {_toml_value(getattr(detector, f))}"
                                   for f in DetectorSpec.__dataclass_fields__]
    for encoder in profile.encoders:
        lines += ["", "[[encoders]]"]
        for f in EncoderSpec.__dataclass_fields__:
            value = getattr(encoder, f)
            if value is not None and not (f == "options" and not value):
                lines.append(f"{f} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
