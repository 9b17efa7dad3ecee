"""Registry of the weight files the product knows by name.

Each entry says where the file comes from, how to check it (sha256, or the
sha256 prefix that torch-hub style file names carry), its licence and the
preprocessing the model expects. Entries whose sha256 is not published are
pinned on first download: the cache records the hash it saw and checks every
later use against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# insightface release packs (zip archives holding several ONNX files)
_INSIGHTFACE_RELEASE = "https://github.com/deepinsight/insightface/releases/download/v0.7"
INSIGHTFACE_LICENCE = "insightface model zoo: non-commercial research use only"


@dataclass(frozen=True)
class Preprocessing:
    """How a model wants its aligned face crop."""

    crop: str  # "arcface112" or "clip224"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]  # applied to RGB in [0, 1]
    channel_order: str = "RGB"


ARCFACE_PREPROCESSING = Preprocessing("arcface112", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
CLIP_PREPROCESSING = Preprocessing(
    "clip224",
    (0.48145466, 0.4578275, 0.40821073),
    (0.26862954, 0.26130258, 0.27577711),
)


@dataclass(frozen=True)
class WeightEntry:
    name: str
    filename: str
    kind: str  # detector | clip | iresnet100 | clip-adapter
    licence: str
    description: str
    url: str | None = None  # None: produced locally (training) or brought by the user
    member: str | None = None  # file inside a zip archive at `url`
    sha256: str | None = None
    sha256_prefix: str | None = None
    preprocessing: Preprocessing | None = None
    how_to_get: str = ""
    is_directory: bool = False  # adapters are folders
    aliases: tuple[str, ...] = field(default=())

    @property
    def source(self) -> str:
        if self.url is None:
            return "produced locally"
        return f"{self.url} (member {self.member})" if self.member else self.url


REGISTRY: dict[str, WeightEntry] = {
    e.name: e
    for e in [
        WeightEntry(
            name="scrfd-10g",
            filename="det_10g.onnx",
            kind="detector",
            licence=INSIGHTFACE_LICENCE,
            description="SCRFD-10GF face detector with 5 landmarks (insightface buffalo_l pack)",
            url=f"{_INSIGHTFACE_RELEASE}/buffalo_l.zip",
            member="det_10g.onnx",
        ),
        WeightEntry(
            name="scrfd-500m",
            filename="det_500m.onnx",
            kind="detector",
            licence=INSIGHTFACE_LICENCE,
            description="SCRFD-500MF face detector with 5 landmarks (insightface buffalo_s pack)",
            url=f"{_INSIGHTFACE_RELEASE}/buffalo_s.zip",
            member="det_500m.onnx",
            sha256="5e4447f50245bbd7966bd6c0fa52938c61474a04ec7def48753668a9d8b4ea3a",
        ),
        WeightEntry(
            name="yunet-2023mar",
            filename="face_detection_yunet_2023mar.onnx",
            kind="detector",
            licence="Apache-2.0 (OpenCV model zoo)",
            description="YuNet face detector with 5 landmarks",
            url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
            "face_detection_yunet_2023mar.onnx",
            sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        ),
        WeightEntry(
            name="clip-vit-b-16-openai",
            filename="ViT-B-16.pt",
            kind="clip",
            licence="MIT (OpenAI CLIP)",
            description="CLIP ViT-B/16, OpenAI weights (TorchScript archive)",
            url="https://openaipublic.azureedge.net/clip/models/"
            "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
            sha256="5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f",
            preprocessing=CLIP_PREPROCESSING,
        ),
        WeightEntry(
            name="iresnet100-ms1mv3",
            filename="iresnet100-73e07ba7.pth",
            kind="iresnet100",
            licence="weights from insightface ArcFace (MS1M): non-commercial research use only",
            description="IResNet100 ArcFace, PyTorch port release file (the IResNet100-base component)",
            url="https://sota.nizhib.ai/insightface/iresnet100-73e07ba7.pth",
            sha256_prefix="73e07ba7",
            preprocessing=ARCFACE_PREPROCESSING,
        ),
        WeightEntry(
            name="glintr100",
            filename="glintr100.onnx",
            kind="iresnet100",
            licence=INSIGHTFACE_LICENCE,
            description="IResNet100 trained on Glint360K (insightface antelopev2 pack), ONNX; "
            "importable into the torch model with `gallery weights import-onnx`",
            url=f"{_INSIGHTFACE_RELEASE}/antelopev2.zip",
            member="antelopev2/glintr100.onnx",
            preprocessing=ARCFACE_PREPROCESSING,
        ),
        WeightEntry(
            name="artface-clip-lora",
            filename="artface-clip-lora",
            kind="clip-adapter",
            licence="CC BY-NC 4.0 (ArtFace recipe); your own training data's terms apply",
            description="LoRA adapter + projection head for CLIP ViT-B/16, adapted to portraits",
            how_to_get="train it with `gallery train clip-lora --out WEIGHTS_DIR/artface-clip-lora`, "
            "or name an adapter folder in a profile file",
            is_directory=True,
            preprocessing=CLIP_PREPROCESSING,
        ),
        WeightEntry(
            name="iresnet100-tuned",
            filename="iresnet100-tuned.pth",
            kind="iresnet100",
            licence="CC BY-NC 4.0 (ArtFace recipe); base weights' licence applies too",
            description="IResNet100 fine-tuned on portraits (the IResNet100-tuned component)",
            how_to_get="train it with `gallery train iresnet --init base --out WEIGHTS_DIR`, "
            "or name a .pth file in a profile file",
            preprocessing=ARCFACE_PREPROCESSING,
        ),
    ]
}
