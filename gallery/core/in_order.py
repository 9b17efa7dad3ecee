"""A stream of items worked on by a few threads, the results handed back in the items' order."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain, islice
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def in_order(work: Callable[[T], R], items: Iterable[T], workers: int, ahead: int | None = None,
             initializer: Callable[[], None] | None = None, name: str = "gallery-worker") -> Iterator[tuple[T, R]]:
    """(item, work(item)) for each item, in the items' order, `workers` items at a time in threads
    of their own (`initializer` runs once in each). The items are drawn in the caller's thread, at
    most `ahead` (default 2 x workers) beyond the one last handed back, so a slow consumer holds few
    of them. An exception raised by `work` is raised here, at its item. With one worker everything
    runs in the caller's thread, and so does a single item (no thread is started for it). Closing
    the iterator early cancels the items not yet started and waits for those running."""
    items = iter(items)
    first = list(islice(items, 2))
    if workers <= 1 or len(first) < 2:
        for item in chain(first, items):
            yield item, work(item)
        return
    ahead = max(workers, ahead or 2 * workers)
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=initializer)
    pending: deque[tuple[T, Future]] = deque()
    try:
        for item in chain(first, items):
            pending.append((item, pool.submit(work, item)))
            if len(pending) >= ahead:
                head, future = pending.popleft()
                yield head, future.result()
        while pending:
            head, future = pending.popleft()
            yield head, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
