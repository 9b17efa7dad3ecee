"""Why did it match? Occlusion maps, per component, for a query face and a matched face.

For each encoder, each face's aligned crop is covered patch by patch (a `grid` x `grid` lattice of
positions, each patch 2/grid of the crop's side, so neighbours overlap by half) with the crop's
mean colour, and the component's score against the *other* face's vector is taken again. The map
is the change at each position: score(intact) - score(covered). Positive: that region supported
the match (covering it lowers the score); negative: it argued against it (covering it makes the two
faces more alike, as where the *other* face has been painted over or damaged there). Both directions
are computed: a map on the query crop and one on the matched crop; `most_against` names a map's
most negative region.

It only calls the encoders, so it works for every kind (torch and ONNX). The cost is grid² + 1
crops per face and component: with the default grid of 7, 100 crops per component for the pair
(measured in the README).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from gallery.faces.align import CropSpec, align_face, landmarks_at
from gallery.core.errors import GalleryError


class ExplainError(GalleryError):
    """An explanation that cannot be computed."""


@dataclass(frozen=True)
class ComponentMap:
    name: str
    score: float  # the component's score of the pair, intact
    query: np.ndarray  # grid x grid score changes, occluding the query crop
    match: np.ndarray  # grid x grid score changes, occluding the matched crop
    query_crop: np.ndarray = field(repr=False)
    match_crop: np.ndarray = field(repr=False)
    crop: CropSpec = field(default=CropSpec(112), repr=False)

    @property
    def scale(self) -> float:
        """The largest change on either map: both overlays use it, so their colours compare."""
        return float(max(np.abs(self.query).max(), np.abs(self.match).max())) or 1.0

    def regions(self) -> dict:
        """In words, where each map is most for and most against the match."""
        named = lambda at: region_name(self.crop, self.query.shape[0], *at)  # noqa: E731
        return {"query_for": named(most_for(self.query)), "query_against": named(most_against(self.query)),
                "match_for": named(most_for(self.match)), "match_against": named(most_against(self.match))}

    def to_json(self) -> dict:
        return {"component": self.name, "score": round(self.score, 6), **self.regions(),
                "query_map": np.round(self.query, 5).tolist(), "match_map": np.round(self.match, 5).tolist()}


@dataclass(frozen=True)
class Explanation:
    grid: int
    components: list[ComponentMap]
    seconds: float

    def to_json(self) -> dict:
        return {"grid": self.grid, "seconds": round(self.seconds, 3),
                "components": [c.to_json() for c in self.components]}


def _patches(size: int, grid: int) -> tuple[int, np.ndarray]:
    """The patch side and the grid's centres along one side of a crop of `size` pixels."""
    patch = max(2, round(2 * size / grid))
    return patch, np.linspace(patch / 2, size - patch / 2, grid)


def patch_boxes(size: int, grid: int) -> list[tuple[int, int, int, int]]:
    """The grid's patches (y0, y1, x0, x1) on a crop of `size` pixels, row by row."""
    patch, centres = _patches(size, grid)
    starts = [int(round(c - patch / 2)) for c in centres]
    return [(y0, min(size, y0 + patch), x0, min(size, x0 + patch)) for y0 in starts for x0 in starts]


def occluded(crop: np.ndarray, grid: int) -> np.ndarray:
    """grid² copies of the crop, each with one patch (`patch_boxes`) covered by the crop's mean colour."""
    fill = crop.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    copies = np.repeat(crop[None], grid * grid, axis=0)
    for copy, (y0, y1, x0, x1) in zip(copies, patch_boxes(crop.shape[0], grid)):
        copy[y0:y1, x0:x1] = fill
    return copies


def _map(encoder, crop: np.ndarray, score: float, other: np.ndarray, grid: int) -> np.ndarray:
    """The score lost at each patch of `crop` against the other face's vector; `score` is the intact pair's."""
    vectors, _norms = encoder.embed(occluded(crop, grid), encoder.spec.flip)
    return (score - vectors @ other).reshape(grid, grid)


def explain(encoders, query_rgb: np.ndarray, query_landmarks, match_rgb: np.ndarray, match_landmarks,
            grid: int = 7, on_progress: Callable[[int, int], None] | None = None) -> Explanation:
    """Occlusion maps of every component (a pipeline's `encoders`) for one pair of faces."""
    if not 2 <= grid <= 32:
        raise ExplainError(f"the grid is 2 to 32 positions a side, got {grid}")
    started = time.monotonic()
    maps = []
    report = on_progress or (lambda done, total: None)
    for step, encoder in enumerate(encoders):
        query_crop = align_face(query_rgb, np.asarray(query_landmarks, np.float32), encoder.crop)
        match_crop = align_face(match_rgb, np.asarray(match_landmarks, np.float32), encoder.crop)
        (query_vector, match_vector), _ = encoder.embed(np.stack([query_crop, match_crop]), encoder.spec.flip)
        score = float(query_vector @ match_vector)
        on_query = _map(encoder, query_crop, score, match_vector, grid)
        report(2 * step + 1, 2 * len(encoders))
        on_match = _map(encoder, match_crop, score, query_vector, grid)
        report(2 * step + 2, 2 * len(encoders))
        maps.append(ComponentMap(encoder.name, score, on_query, on_match, query_crop, match_crop, encoder.crop))
    return Explanation(grid, maps, time.monotonic() - started)


def heat(crop: np.ndarray, values: np.ndarray, scale: float | None = None) -> np.ndarray:
    """The crop with the map over it: red where the region supported the match, blue where it
    argued against it; `scale` is the change shown at full colour (default: the map's largest)."""
    size = crop.shape[0]
    grid = values.shape[0]
    boxes = patch_boxes(size, grid)
    total = np.zeros((size, size), np.float64)
    count = np.zeros((size, size), np.float64)
    for value, (y0, y1, x0, x1) in zip(values.ravel(), boxes):
        total[y0:y1, x0:x1] += value
        count[y0:y1, x0:x1] += 1
    field_ = total / np.maximum(count, 1)
    scale = scale or float(np.abs(field_).max()) or 1.0
    strength = np.clip(field_ / scale, -1, 1)
    out = crop.astype(np.float64) * 0.6
    out[..., 0] += 100 * np.clip(strength, 0, 1)
    out[..., 2] += 100 * np.clip(-strength, 0, 1)
    return np.clip(out, 0, 255).astype(np.uint8)


def overlays(found: Explanation) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per component: the query crop and the matched crop with their maps over them, on one scale."""
    return [(heat(c.query_crop, c.query, c.scale), heat(c.match_crop, c.match, c.scale)) for c in found.components]


def panel(found: Explanation, side: int = 224) -> np.ndarray:
    """One picture of an explanation: a row per component, the query face left, the match right."""
    import cv2

    rows = [np.concatenate([cv2.resize(q, (side, side)), np.full((side, 8, 3), 255, np.uint8),
                            cv2.resize(m, (side, side))], axis=1) for q, m in overlays(found)]
    gap = np.full((8, 2 * side + 8, 3), 255, np.uint8)
    return np.concatenate([part for row in rows for part in (row, gap)][:-1], axis=0)


def most_for(values: np.ndarray) -> tuple[int, int]:
    """The (row, column) of the region that supports the match most (the map's maximum)."""
    return tuple(int(v) for v in np.unravel_index(values.argmax(), values.shape))


PARTS = ("the eye on the left", "the eye on the right", "the nose", "the mouth", "the mouth")


def region_name(crop: CropSpec, grid: int, row: int, column: int) -> str:
    """A map position in words, from where the aligned crop puts the five landmarks (left and right
    as the viewer sees the picture)."""
    template = crop.template()
    _patch, centres = _patches(crop.size, grid)
    y, x = centres[row], centres[column]
    eye_gap = float(np.linalg.norm(template[1] - template[0]))
    distances = np.linalg.norm(template - (x, y), axis=1)
    if distances.min() < 0.45 * eye_gap:
        return PARTS[int(distances.argmin())]
    if y < template[:2, 1].mean() - 0.45 * eye_gap:
        return "the forehead or hair"
    if y > template[3:, 1].mean() + 0.45 * eye_gap:
        return "the chin or below"
    side = "left" if x < template[2, 0] else "right"
    if abs(x - template[2, 0]) > 1.1 * eye_gap:
        return f"the edge of the face on the {side}"
    return f"the cheek on the {side}"


def most_against(values: np.ndarray) -> tuple[int, int]:
    """The (row, column) of the region that argues most against the match (the map's minimum): on
    one face's map, where the other face differs from it, as a painted-over or damaged region does."""
    return tuple(int(v) for v in np.unravel_index(values.argmin(), values.shape))


def artwork_image(database, face_id: int, settings):
    """(RGB, landmarks) of a collection face, from its artwork's file, or for a IIIF canvas from the
    image cached when it was fetched; ExplainError when the picture is not on this machine."""
    from sqlalchemy import select

    from db.schema import Artwork, Face
    from gallery.core.http import cache_dir_of, cached_image

    from gallery.faces.images import load_image

    with database.session() as session:
        row = session.execute(select(Face.landmarks, Artwork.path, Artwork.extras)
                              .join(Artwork, Artwork.id == Face.artwork_id).where(Face.id == face_id)).one_or_none()
    if row is None:
        raise ExplainError(f"there is no face {face_id}")
    landmarks, source, extras = row
    iiif = (extras or {}).get("iiif")
    if iiif:
        source = str(cached_image(cache_dir_of(settings), iiif["image_url"]))
    try:
        return load_image(source, settings.max_pixels).rgb, np.asarray(landmarks, np.float32)
    except GalleryError as err:
        raise ExplainError(f"the matched work's picture cannot be read here ({err}); an explanation needs it") from None


def explain_match(service, result, face_id: int, grid: int | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> Explanation:
    """The occlusion maps of a search's query face against one of its matched collection faces."""
    settings = service.pipeline.settings
    query = service.pipeline.load(result.query_bytes, result.query)
    match_rgb, match_landmarks = artwork_image(service.database, face_id, settings)
    landmarks = landmarks_at(result.faces[result.face].landmarks, query.scale)
    return explain(service.pipeline.encoders, query.rgb, landmarks, match_rgb,
                   match_landmarks, grid or settings.explain_grid, on_progress)
