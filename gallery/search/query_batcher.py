"""Concurrent queries share the models: requests that arrive while the models are busy are answered
together in one model call, as inference servers batch.

No timer is involved. A request joins the waiting list and tries to take the models; whoever gets
them takes everyone waiting (up to `max_batch`) and answers them all. An idle server therefore adds
no latency (a lone request is a batch of one), and a busy one forms batches by itself, as large as
the load. `max_batch = 1` turns batching off: one request per model call, in arrival order.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Generic, TypeVar

Q = TypeVar("Q")
A = TypeVar("A")


@dataclass
class _Slot(Generic[Q]):
    request: Q
    done: threading.Event = field(default_factory=threading.Event)
    answer: object = None


class QueryBatcher(Generic[Q, A]):
    def __init__(self, answer_many: Callable[[list[Q]], list[A]], max_batch: int = 8):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.answer_many = answer_many
        self.max_batch = max_batch
        self._waiting: list[_Slot] = []
        self._waiting_lock = threading.Lock()
        self._models = threading.Lock()
        self.batches: list[int] = []  # sizes of the batches answered (for benchmarks), last 1000

    def ask(self, request: Q) -> A:
        """The answer to `request` (an exception the batch function returned for it is raised)."""
        slot = _Slot(request)
        with self._waiting_lock:
            self._waiting.append(slot)
        while not slot.done.is_set():
            with self._models:
                if slot.done.is_set():  # answered by the batch that held the models
                    break
                with self._waiting_lock:
                    batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
                self._answer(batch)
        if isinstance(slot.answer, BaseException):
            raise slot.answer
        return slot.answer

    def _answer(self, batch: list[_Slot]) -> None:
        try:
            answers = self.answer_many([s.request for s in batch])
        except BaseException as err:  # noqa: BLE001 (handed to every caller of this batch)
            answers = [err] * len(batch)
        self.batches = (self.batches + [len(batch)])[-1000:]
        for slot, answer in zip(batch, answers):
            slot.answer = answer
            slot.done.set()
