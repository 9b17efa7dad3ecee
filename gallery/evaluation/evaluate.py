"""Evaluating a profile on a labelled collection: every component alone and the fusion.

Labelled faces come from a folder per sitter (the largest face of each image is embedded) or
from the database (faces whose current identification is `confirmed`, with their stored vectors
of the profile's embedding set). A sitter-disjoint split keeps half of the sitters (chosen by a
seeded hash of the name) for evaluation, as after training on the other half.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gallery.core.errors import GalleryError
from gallery.faces.fusion import FusionLayout
from gallery.evaluation import likelihood
from gallery.evaluation.metrics import Roc, evaluate_vectors


class EvaluationError(GalleryError):
    """Not enough labelled faces to evaluate."""


@dataclass(frozen=True)
class Labelled:
    fused: np.ndarray  # N x D, L2-normalised
    labels: np.ndarray  # N sitter names
    layout: FusionLayout
    quality: np.ndarray | None = None  # N face qualities (gallery.faces.quality); NaN where unknown

    def components(self) -> dict[str, np.ndarray]:
        """Each component's own unit vectors, read back from the fused ones."""
        out = {}
        for (name, part), coef in zip(self.layout.slices().items(), self.layout.coefficients):
            out[name] = self.fused[:, part] / np.float32(coef)
        return out

    def subset(self, mask: np.ndarray) -> "Labelled":
        return Labelled(self.fused[mask], self.labels[mask], self.layout,
                        None if self.quality is None else self.quality[mask])


@dataclass(frozen=True)
class Evaluation:
    fusion: dict
    components: dict[str, dict]
    curves: dict[str, Roc] = field(repr=False)
    sitters: int = 0
    faces: int = 0
    error_versus_reject: list[dict] = field(default_factory=list)  # the fusion as low-quality faces are dropped
    forensic: dict[str, dict] = field(default_factory=dict, repr=False)  # per model: gallery.evaluation.likelihood.forensic

    def to_json(self) -> dict:
        return {"fusion": self.fusion, "components": self.components, "sitters": self.sitters, "faces": self.faces,
                "error_versus_reject": self.error_versus_reject,
                "likelihood_ratios": {name: _without_lrs(figures) for name, figures in self.forensic.items()}}


def _without_lrs(figures: dict) -> dict:
    return {k: ({m: v for m, v in part.items() if not m.startswith("log10_")} if isinstance(part, dict) else part)
            for k, part in figures.items()}


def folder_label(path, root: Path) -> str:
    """The sitter of an image in a labelled folder: its folder below `root`, underscores as spaces."""
    return Path(path).resolve().parent.relative_to(root).as_posix().replace("_", " ")


def labelled_from_folder(pipeline, folder: Path, on_image=None) -> Labelled:
    from gallery.faces.batch import collect_images, embed_files

    files = collect_images([folder])
    run = embed_files(pipeline, files, on_image)
    root = Path(folder).resolve()
    keep = [i for i, face in enumerate(run.face_index) if face == 0]
    labels = [folder_label(run.paths[i], root) for i in keep]
    if not keep:
        raise EvaluationError(f"no face found in {folder}")
    return Labelled(np.stack([run.vectors[i] for i in keep]), np.asarray(labels), pipeline.layout,
                    np.asarray([run.qualities[i] for i in keep], np.float32))


def labelled_from_database(database, set_key: str, layout: FusionLayout, quality_floor: float = 0.0) -> Labelled:
    """The confirmed faces' stored vectors; faces whose quality is below `quality_floor` are left
    out (faces indexed before quality was measured have none and stay)."""
    from sqlalchemy import select

    from db.collection import VECTOR_DTYPE, find_embedding_set
    from db.identifications import confirmed_sitters
    from db.schema import Face, FaceVector, serving

    with database.session() as session:
        eset = find_embedding_set(session, set_key)
        if eset is None:
            raise EvaluationError(f"nothing is indexed with this profile (embedding set {set_key})")
        single = confirmed_sitters(session)
        rows = session.execute(select(FaceVector.face_id, FaceVector.vector, Face.quality)
                               .join(Face, Face.id == FaceVector.face_id)
                               .where(FaceVector.set_id == eset.id, serving(),
                                      FaceVector.face_id.in_(list(single)))).all()
    rows = [r for r in rows if r.quality is None or r.quality >= quality_floor]
    if not rows:
        raise EvaluationError("no face with a confirmed sitter (and a quality at or above the floor) has a vector "
                              "in this embedding set")
    vectors = np.stack([np.frombuffer(r.vector, VECTOR_DTYPE).astype(np.float32) for r in rows])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    quality = np.asarray([np.nan if r.quality is None else r.quality for r in rows], np.float32)
    return Labelled(vectors, np.asarray([single[r.face_id] for r in rows]), layout, quality)


def sitter_disjoint(labels: np.ndarray, fraction: float = 0.5, seed: int = 0) -> np.ndarray:
    """A mask of the faces whose sitter falls in the held-out `fraction` of sitters."""
    names = sorted(set(labels.tolist()))
    ranked = sorted(names, key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).hexdigest())
    held = set(ranked[: max(1, round(len(names) * fraction))])
    return np.asarray([label in held for label in labels])


def evaluate(labelled: Labelled) -> Evaluation:
    if len(set(labelled.labels.tolist())) < 2:
        raise EvaluationError("evaluation needs at least two sitters")
    try:
        fusion, fused_curve = evaluate_vectors(labelled.fused, labelled.labels)
        components, curves = {}, {"fusion": fused_curve}
        for name, vectors in labelled.components().items():
            components[name], curves[name] = evaluate_vectors(vectors, labelled.labels)
    except ValueError as err:
        raise EvaluationError(str(err)) from None
    held = sitter_disjoint(labelled.labels)
    forensic = {name: likelihood.forensic(vectors @ vectors.T, labelled.labels, held)
                for name, vectors in [*labelled.components().items(), ("fusion", labelled.fused)]}
    return Evaluation(fusion, components, curves, len(set(labelled.labels.tolist())), len(labelled.labels),
                      error_versus_reject(labelled), forensic)


REJECT_FRACTIONS = (0.0, 0.05, 0.1, 0.2, 0.3)


def error_versus_reject(labelled: Labelled, fractions=REJECT_FRACTIONS) -> list[dict]:
    """The fusion's EER and FNMR at 1 % FMR as the lowest-quality fraction of faces is dropped: a
    quality score that means something makes the errors fall. Empty without qualities."""
    if labelled.quality is None or np.isnan(labelled.quality).all():
        return []
    order = np.argsort(np.nan_to_num(labelled.quality, nan=np.inf), kind="stable")  # unknown quality kept last
    rows = []
    for fraction in fractions:
        keep = np.ones(len(order), bool)
        keep[order[: int(round(fraction * len(order)))]] = False
        kept = labelled.subset(keep)
        if len(set(kept.labels.tolist())) < 2:
            break
        try:
            figures, _curve = evaluate_vectors(kept.fused, kept.labels)
        except ValueError:
            break
        rows.append({"rejected": fraction, "faces": int(keep.sum()), "eer": figures["eer"],
                     "fnmr_at_fmr_1e-2": round(1 - figures["tar@far=0.01"], 6)})
    return rows


def plot_roc(evaluation: Evaluation, path: Path, title: str = "ROC") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4.5), dpi=120)
    for name, curve in evaluation.curves.items():
        keep = curve.far > 0
        figure_eer = (evaluation.fusion if name == "fusion" else evaluation.components[name])["eer"]
        axes.plot(curve.far[keep], curve.tar[keep], label=f"{name} (EER {100 * figure_eer:.1f} %)",
                  linewidth=2.2 if name == "fusion" else 1.2)
    axes.set_xscale("log")
    axes.set_xlabel("false accept rate (FAR)")
    axes.set_ylabel("true accept rate (TAR)")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right")
    return _save(figure, path)


def plot_tippett(evaluation: Evaluation, path: Path, title: str = "Tippett plot") -> Path:
    """For each component and the fusion: the share of same-sitter comparisons whose LR is at
    least x, and of different-sitter comparisons, for the best single face and for several likenesses."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    names = list(evaluation.forensic)
    figure, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 4.2), dpi=110, squeeze=False)
    for axis, name in zip(axes[0], names):
        for kind, style in (("single", "--"), ("several", "-")):
            part = evaluation.forensic[name].get(kind, {})
            if "log10_same" not in part:
                continue
            for key, colour, who in (("log10_same", "tab:blue", "same sitter"), ("log10_different", "tab:red",
                                                                                "different sitters")):
                values = np.sort(part[key])
                axis.step(values, 1 - np.arange(len(values)) / len(values), style, color=colour, where="post",
                          label=f"{who}, {kind} (Cllr {part['cllr']:.3f})")
        axis.axvline(0, color="grey", linewidth=0.8)
        axis.set_xlabel("log10 LR at least")
        axis.set_ylabel("share of comparisons")
        axis.set_title(f"{title}: {name}")
        axis.legend(fontsize=7, loc="lower left")
        axis.grid(True, alpha=0.3)
    return _save(figure, path)


def _save(figure, path: Path) -> Path:
    from matplotlib import pyplot as plt

    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def forensic_table(evaluation: Evaluation) -> str:
    """Cllr and Cllr-min (after PAV), best single face against several likenesses."""
    lines = [f"{'model':<24} {'Cllr single':>12} {'min':>7} {'Cllr several':>13} {'min':>7}"]
    for name, figures in evaluation.forensic.items():
        cells = []
        for kind in ("single", "several"):
            part = figures.get(kind, {})
            cells += [f"{part['cllr']:.4f}", f"{part['cllr_min']:.4f}"] if "cllr" in part else ["n/a", "n/a"]
        lines.append(f"{name:<24} {cells[0]:>12} {cells[1]:>7} {cells[2]:>13} {cells[3]:>7}")
    first = next(iter(evaluation.forensic.values()), {})
    lines.append(f"likelihood ratios calibrated on {first.get('calibrated_on', 0)} sitters, measured on "
                 f"{first.get('measured_on', 0)} others")
    return "\n".join(lines)


def table(evaluation: Evaluation) -> str:
    """The ArtFace layout: EER %, TAR@0.1 % FAR, TAR@1 % FAR, then rank-1, rank-5 and mAP (%), and
    the open-set FNIR at FPIR 1 % and 0.1 % ("n/a" where too few searches can show that rate)."""
    lines = [f"{'model':<24} {'EER %':>7} {'TAR@0.1%':>9} {'TAR@1%':>8} {'rank-1':>7} {'rank-5':>7} {'mAP':>6} "
             f"{'FNIR@FPIR1%':>12} {'FNIR@FPIR0.1%':>14}"]
    rows = list(evaluation.components.items()) + [("fusion", evaluation.fusion)]
    for name, r in rows:
        lines.append(f"{name:<24} {100 * r['eer']:>7.1f} {100 * r['tar@far=0.001']:>9.1f} "
                     f"{100 * r['tar@far=0.01']:>8.1f} {100 * r['rank1']:>7.1f} {100 * r['rank5']:>7.1f} "
                     f"{100 * r['map']:>6.1f} {_percent(r.get('fnir@fpir=0.01')):>12} "
                     f"{_percent(r.get('fnir@fpir=0.001')):>14}")
    fusion = evaluation.fusion
    lines.append(f"{evaluation.sitters} sitters, {evaluation.faces} faces, {fusion['genuine_pairs']} genuine "
                 f"and {fusion['impostor_pairs']} impostor pairs; {fusion.get('non_mated_searches', 0)} searches "
                 f"of a sitter left out and {fusion.get('mated_searches', 0)} of a sitter held")
    return "\n".join(lines)


def _percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"
