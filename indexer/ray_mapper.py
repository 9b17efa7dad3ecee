"""The reader and mapper stages on a Ray cluster (`gallery index --ray ADDRESS|local`, the
`.[cluster]` extra).

Ray Data's `map_batches` runs `MapperActor`s, each holding one replica of the models (one actor
per GPU where the cluster has GPUs and the profile's device is not "cpu"; otherwise one per
`ray_cpus_per_actor` CPUs). Files are read (hashed, and decoded unless the hash is the known one)
with the single-process indexer's read_file, either in a stage of their own (`read_files`, Ray
tasks of one CPU each, `ray_readers` at once) that feeds the actors decoded images, or by each
actor itself (see `plan_for`). An actor detects, or aligns again from the stored landmarks for a
new embedding set, and embeds, with the single-process indexer's own code (indexer.mapper). It
sends back, per file, what the writer needs: never the pixels.

Decoding is the bound at GPU rates (a 2048-pixel JPEG takes about 0.1 s of one core, a GPU embeds
hundreds of faces a second), so on a GPU cluster reading is a stage of its own on the CPUs the
actors leave free; on a CPU cluster the networks are the bound, and each actor reads its own files
unless `ray_readers` sets CPUs apart for reading.

The driver (the machine running `gallery index`) walks the folder, opens the database, classifies
each result in collection order with the same Planner and writes it with the same Writer, so
faces, vectors and identifications are those of a run without Ray (tests/test_ray.py). A result
the driver cannot use as it is (a file moved to a new path whose artwork still lacks vectors:
the worker could not know the stored faces to reuse) is read and mapped again on the driver.

Every node must see the collection at the same path (a shared mount) and have the project and
the profile's weights installed at the same paths.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from gallery.core.errors import GalleryError
from gallery.config.settings import Settings

from indexer.mapper import Mapper
from indexer.plan import CollectionFile, Planner, Task
from indexer.reader import read_file


BLOCK_BATCHES = 4  # a Ray Data block holds this many of the mapper's batches of files


class RayError(GalleryError):
    """Ray is missing or the cluster cannot be reached."""


@dataclass(frozen=True)
class StoredFace:
    """A stored face's id and detection, shipped to a worker to align again (mapper.stored_faces)."""

    id: int
    box: tuple
    landmarks: list
    score: float
    rejected_at: object = None  # set when a curator rejected the face: embedded, kept out of the index


@dataclass(frozen=True)
class Job:
    file: CollectionFile  # known_sha256 set: the hash under which decoding is skipped
    stored_sha256: str | None = None  # the content the stored faces were found in
    stored: tuple[StoredFace, ...] = ()


def connect(address: str) -> bool:
    """Join the cluster at `address` ("local": start one on this machine, alone); whether this
    call started Ray (and so should stop it)."""
    try:
        import ray
    except ImportError as err:
        raise RayError("--ray needs Ray: pip install 'portrait-gallery[cluster]'") from err
    if ray.is_initialized():
        return False
    _reachable(address)
    try:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise RayError(f"cannot join the Ray cluster at {address}: {err}") from err
    return True


def _reachable(address: str, timeout_s: float = 10.0) -> None:
    """A HOST:PORT cluster address must answer before Ray is asked to join it (Ray itself retries
    an unreachable head for minutes)."""
    import socket

    host, _, port = address.rpartition(":")
    if address == "local" or "://" in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise RayError(f"cannot join the Ray cluster at {address}: nothing answers there ({err}); "
                       "is the head node started (ray start --head)?") from err


@dataclass(frozen=True)
class RayPlan:
    actors: int  # model replicas
    each: dict  # Ray resources of each replica
    readers: int  # read tasks at once in a stage of their own; 0: each replica reads its own files


def plan_for(settings: Settings, resources: dict) -> RayPlan:
    """The replicas, their resources and the readers, from the cluster's resources and the settings
    (ray_actors, ray_cpus_per_actor, ray_readers). On GPUs: one replica per GPU (one CPU each, for
    alignment and thumbnails, or a share where CPUs are fewer) and a read stage on the other CPUs; on CPUs: replicas of
    ray_cpus_per_actor CPUs, reading their own files unless ray_readers sets CPUs apart."""
    cpus = max(1, int(resources.get("CPU", 1)))
    gpus = int(resources.get("GPU", 0))
    if gpus and settings.device != "cpu":
        actors = settings.ray_actors or gpus
        cpu = min(1.0, (cpus - 1) / actors)  # one each where the cluster has them, one CPU left to read
        readers = settings.ray_readers or max(1, int(cpus - cpu * actors))
        return RayPlan(actors, {"num_gpus": 1, "num_cpus": cpu}, readers)
    readers = min(settings.ray_readers, cpus - 1)  # at least one CPU left for a replica
    left = cpus - readers
    per_actor = min(settings.ray_cpus_per_actor, left)
    return RayPlan(settings.ray_actors or max(1, left // per_actor), {"num_cpus": per_actor}, readers)


def read_files(batch: dict, max_pixels: int, reduce_to: int | None = None, regions: bool = True) -> dict:
    """The read stage: each job's file hashed and decoded (indexer.reader.read_file)."""
    reads = []
    for blob in batch["job"]:
        job = pickle.loads(blob)
        read = read_file(job.file.read_path, job.file.known_sha256, max_pixels, reduce_to, regions)
        reads.append(pickle.dumps(read, protocol=pickle.HIGHEST_PROTOCOL))
    return {"job": batch["job"], "read": np.array(reads, dtype=object)}


class MapperActor:
    """One model replica on a Ray worker: jobs (and their files read, from the read stage) in,
    pickled (kind, ReadResult, ImageResult) out."""

    def __init__(self, settings: Settings):
        from gallery.faces.pipeline import FacePipeline

        self.settings = settings
        self.mapper = Mapper(FacePipeline(settings), settings.thumbnail_size)

    def __call__(self, batch: dict) -> dict:
        jobs = [pickle.loads(blob) for blob in batch["job"]]
        reads = [pickle.loads(blob) for blob in batch["read"]] if "read" in batch else \
            [read_file(job.file.read_path, job.file.known_sha256, self.settings.max_pixels,
                       self.settings.detect_max_side, self.settings.read_regions) for job in jobs]
        tasks = [self._task(job, read) for job, read in zip(jobs, reads)]
        for _ in self.mapper.map(tasks):  # fills each task's result (and fails those it must)
            pass
        out = [pickle.dumps((t.kind, t.read, t.result), protocol=pickle.HIGHEST_PROTOCOL) for t in tasks]
        return {"done": np.array(out, dtype=object)}

    @staticmethod
    def _task(job: Job, read) -> Task:
        if read.error is not None:
            return Task(job.file, "failed", read)
        if read.unchanged:
            return Task(job.file, "unchanged", read)
        if job.stored and read.sha256 == job.stored_sha256:
            return Task(job.file, "embed", read, faces=list(job.stored))
        return Task(job.file, "new", read)


def ray_tasks(settings: Settings, address: str, jobs: list[Job], planner: Planner) -> Iterator[tuple[Task, bool]]:
    """(task, mapped) for each file in collection order, classified by `planner`, with its result
    from the cluster; `mapped` is False where the driver must map the task itself."""
    if not jobs:
        return
    started = connect(address)
    try:
        import ray
        import ray.data

        plan = plan_for(settings, ray.cluster_resources())
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # the writer sees files in collection order
        context.enable_progress_bars = False
        files_per_block = BLOCK_BATCHES * settings.batch_size  # results stream back block by block
        dataset = ray.data.from_items([{"job": pickle.dumps(job)} for job in jobs],
                                      override_num_blocks=-(-len(jobs) // files_per_block))
        if plan.readers:
            reading = {"max_pixels": settings.max_pixels, "reduce_to": settings.detect_max_side,
                       "regions": settings.read_regions}
            dataset = dataset.map_batches(read_files, fn_kwargs=reading,
                                          batch_size=settings.batch_size, batch_format="numpy", num_cpus=1,
                                          concurrency=plan.readers)
        mapped = dataset.map_batches(MapperActor, fn_constructor_kwargs={"settings": settings},
                                     batch_size=settings.batch_size, batch_format="numpy",
                                     compute=ray.data.ActorPoolStrategy(size=plan.actors), **plan.each)
        for job, row in zip(jobs, mapped.iter_rows(), strict=True):
            kind, read, result = pickle.loads(row["done"])
            yield _classified(planner, job, kind, read, result)
    finally:
        if started:
            ray.shutdown()


def _classified(planner: Planner, job: Job, worker_kind: str, read, result) -> tuple[Task, bool]:
    task = planner.classify(job.file, read)
    if worker_kind == "failed" and task.kind != "failed":  # the worker's detector failed on it
        return Task(job.file, "failed", read, task.known), True
    if not task.needs_models:
        return task, True
    fits = (task.kind in ("new", "changed") and worker_kind == "new") or \
        (task.kind == "embed" and worker_kind == "embed" and task.known is not None
         and bool(job.stored) and task.known.path == job.file.path)
    if fits:
        task.result = result
        task.faces = list(job.stored) if task.kind == "embed" else None
    return task, fits


def jobs_for(files: Iterable[CollectionFile], planner: Planner, stored: dict[str, list[StoredFace]]) -> list[Job]:
    """One job per file; files whose artwork lacks vectors in this set carry its stored faces."""
    jobs = []
    for item in planner.prepare(list(files)):
        known = planner.known.get(item.path)
        faces = stored.get(item.path, [])
        jobs.append(Job(item, known.sha256 if known and faces else None, tuple(faces)))
    return jobs


def read_again(settings: Settings, task: Task) -> Task:
    """A task the cluster's result did not fit, read here (decoded) for the driver's own mapper."""
    task.read = read_file(task.file.read_path, None, settings.max_pixels, settings.detect_max_side,
                          settings.read_regions)
    if task.read.error is not None:
        task.kind = "failed"
    return task


def stored_faces_of(session, artworks, set_id: int) -> dict[str, list[StoredFace]]:
    """Artwork path -> its active faces without a vector in the set (face_index order), for artworks
    lacking some of this set's vectors."""
    from sqlalchemy import select

    from db.schema import Face, FaceVector

    by_id = {a.id: a.path for a in artworks}
    out: dict[str, list[StoredFace]] = {}
    ids = sorted(by_id)
    for start in range(0, len(ids), 500):
        rows = session.scalars(select(Face).where(Face.artwork_id.in_(ids[start:start + 500]), Face.active.is_(True),
                                                  Face.id.not_in(select(FaceVector.face_id)
                                                                 .where(FaceVector.set_id == set_id)))
                               .order_by(Face.artwork_id, Face.face_index))
        for face in rows:
            out.setdefault(by_id[face.artwork_id], []).append(
                StoredFace(face.id, tuple(face.box), list(face.landmarks), float(face.score), face.rejected_at))
    return out

