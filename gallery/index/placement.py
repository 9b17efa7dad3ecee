"""Where an index runs: on a GPU when FAISS has GPU support and sees one, on CPU otherwise, with
the same results; an index of a kind FAISS cannot place on a GPU is searched on CPU, with a warning.
Also how an index holds face ids, and whether FAISS removes them in place."""

from __future__ import annotations

import logging

from gallery.index.choice import IVF_NPROBE

log = logging.getLogger(__name__)


def gpu_available() -> bool:
    import faiss

    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def with_face_ids(index):
    """The index holding face ids: an IVF index holds them in its lists (8 bytes a face, and
    removal in place); any other through an IndexIDMap2 (which adds a map of ids to rows)."""
    import faiss

    return index if faiss.try_extract_index_ivf(index) is not None else faiss.IndexIDMap2(index)


def removes_in_place(index) -> bool:
    """A CPU index from which FAISS removes ids correctly: an IVF index holding the ids itself,
    or an IndexIDMap2 over an array of rows. (An IndexIDMap2 over IVF, as earlier versions
    saved, would renumber its map but not the lists.)"""
    import faiss

    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexIDMap2):
        return isinstance(faiss.downcast_index(index.index), faiss.IndexFlatCodes)
    return isinstance(index, faiss.IndexIVF)


def ready(index, use_gpu: bool, nprobe: int = IVF_NPROBE):
    """Search settings and device placement, for a freshly built or a loaded CPU index."""
    import faiss

    try:
        faiss.extract_index_ivf(index).nprobe = nprobe or IVF_NPROBE
    except RuntimeError:  # not an IVF index
        pass
    if not use_gpu:
        return index
    resources = faiss.StandardGpuResources()
    try:
        placed = faiss.index_cpu_to_gpu(resources, 0, index)
    except RuntimeError as err:  # a kind FAISS has no GPU form of (HNSW, a flat SQfp16 index, ...)
        log.warning("vector index: FAISS cannot place this %s on the GPU (%s); it is searched on CPU",
                    type(faiss.downcast_index(index)).__name__, str(err).strip().splitlines()[-1])
        return index
    placed.referenced_objects = [resources]  # kept alive with the index (FAISS refuses other new attributes)
    return placed


def on_gpu(index) -> bool:
    """The index (or the index inside its id map) is a FAISS GPU index."""
    import faiss

    gpu_index = getattr(faiss, "GpuIndex", None)  # only in FAISS builds with GPU support
    if gpu_index is None:
        return False
    index = faiss.downcast_index(index)
    if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        index = faiss.downcast_index(index.index)
    return isinstance(index, gpu_index)
