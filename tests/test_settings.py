"""Settings: file < environment < flags, profile files, loud errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gallery.core.errors import ConfigError
from gallery.config.settings import load_settings


def test_defaults_and_offline_from_hf_variable(tmp_path):
    s = load_settings(None, {"HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"})
    assert s.profile.name == "base" and s.offline is True
    assert [e.name for e in s.profile.encoders] == ["clip", "iresnet_base"]
    assert s.data_dir == tmp_path / ".local" / "share" / "portrait-gallery"
    assert s.weights_dir == s.data_dir / "weights"


def test_precedence_file_then_environment_then_flags(tmp_path):
    cfg = tmp_path / "s.toml"
    cfg.write_text('device = "cpu"\nprecision = "fp32"\nbatch_size = 8\ndata_dir = "/from/file"\n')
    s = load_settings(cfg, {"HOME": str(tmp_path)})
    assert (s.device, s.precision, s.batch_size, s.data_dir) == ("cpu", "fp32", 8, Path("/from/file"))
    s = load_settings(cfg, {"HOME": str(tmp_path), "GALLERY_BATCH_SIZE": "4", "GALLERY_PRECISION": "bf16"})
    assert (s.batch_size, s.precision) == (4, "bf16")
    s = load_settings(cfg, {"GALLERY_BATCH_SIZE": "4"}, batch_size=2, precision=None)
    assert s.batch_size == 2 and s.precision == "fp32"


def test_profile_file_describes_detector_and_encoders(tmp_path):
    cfg = tmp_path / "museum.toml"
    cfg.write_text(
        '[detector]\nkind = "yunet"\nweights = "/m/yunet.onnx"\nthreshold = 0.6\n\n'
        '[[encoders]]\nname = "mfn"\nkind = "onnx"\nweights = "/m/mfn.onnx"\nweight = 2.0\n\n'
        '[[encoders]]\nname = "clip"\nkind = "clip"\nweights = "clip-vit-b-16-openai"\n'
        "options = { context = 1.3 }\n"
    )
    s = load_settings(cfg, {})
    assert s.profile.name == "museum"
    assert s.profile.detector.kind == "yunet" and s.profile.detector.threshold == 0.6
    assert [(e.name, e.weight) for e in s.profile.encoders] == [("mfn", 2.0), ("clip", 1.0)]
    assert s.profile.encoders[1].options["context"] == 1.3


@pytest.mark.parametrize("text,message", [
    ('device = "tpu"\n', "device must be one of"),
    ('colour = "blue"\n', "unknown keys"),
    ('[detector]\nkind = "mtcnn"\n', "detector kind"),
    ('[[encoders]]\nname = "x"\nkind = "onnx"\n', "needs a weights file"),
    ('[[encoders]]\nname = "x"\nkind = "clip"\nweights = "w"\nweight = -1\n', "must be > 0"),
    ('[[encoders]]\nname = "x"\nkind = "clip"\nweights = "w"\nsize = 3\n', "unknown keys"),
    ('batch_size = "many"\n', "cannot read"),
    ("ray_readers = -1\n", "ray_readers must be 0"),
    ("index_map_bytes = -5\n", "index_map_bytes must be 0 or more"),
    ("this is = = not toml", "not valid TOML"),
])
def test_bad_settings_fail_loudly(tmp_path, text, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(cfg, {})


def test_unknown_profile_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown profile 'nope'"):
        load_settings(None, {}, profile="nope")
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml", {})


def test_relative_weights_paths_resolve_against_the_profile_file(tmp_path):
    (tmp_path / "conf").mkdir()
    cfg = tmp_path / "conf" / "p.toml"
    cfg.write_text('[detector]\nweights = "../models/det.onnx"\n\n'
                   '[[encoders]]\nname = "c"\nkind = "clip"\nweights = "clip-vit-b-16-openai"\nadapter = "ad"\n')
    profile = load_settings(cfg, {}).profile
    assert profile.detector.weights == str(tmp_path / "models" / "det.onnx")
    assert profile.encoders[0].weights == "clip-vit-b-16-openai"  # registry names stay names
    assert profile.encoders[0].adapter == str(tmp_path / "conf" / "ad")
