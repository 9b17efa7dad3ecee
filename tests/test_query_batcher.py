"""The query batcher: concurrent requests share model calls, each gets its own answer or error."""

from __future__ import annotations

import threading

import pytest

from gallery.search.query_batcher import QueryBatcher
from tests.waiting import GENEROUS_S, wait_until


def test_a_lone_request_is_a_batch_of_one():
    batcher = QueryBatcher(lambda qs: [q * 2 for q in qs])
    assert [batcher.ask(n) for n in range(3)] == [0, 2, 4]
    assert batcher.batches == [1, 1, 1]


def test_requests_waiting_while_the_models_are_busy_share_one_call():
    release = threading.Event()
    calls = []

    def answer_many(requests):
        calls.append(list(requests))
        if len(calls) == 1:
            release.wait(GENEROUS_S)  # the first call holds the models until every other request waits
        return [ValueError(f"bad {q}") if q == 3 else q * 10 for q in requests]

    batcher = QueryBatcher(answer_many, max_batch=4)
    answers = {}

    def ask(n):
        try:
            answers[n] = batcher.ask(n)
        except ValueError as err:
            answers[n] = str(err)

    first = threading.Thread(target=ask, args=(0,))
    first.start()
    wait_until(lambda: calls, "the first call to start")
    others = [threading.Thread(target=ask, args=(n,)) for n in range(1, 7)]
    for thread in others:
        thread.start()
    wait_until(lambda: len(batcher._waiting) == 6, "six requests waiting")
    release.set()
    for thread in [first, *others]:
        thread.join(GENEROUS_S)
    assert answers == {0: 0, 1: 10, 2: 20, 3: "bad 3", 4: 40, 5: 50, 6: 60}  # each its own answer or error
    assert [len(c) for c in calls] == [1, 4, 2]  # six waiting requests in two calls of at most four
    assert sorted(q for c in calls for q in c) == list(range(7))


def test_max_batch_one_is_one_request_per_call():
    with pytest.raises(ValueError):
        QueryBatcher(lambda qs: qs, max_batch=0)
    batcher = QueryBatcher(lambda qs: qs, max_batch=1)
    threads = [threading.Thread(target=batcher.ask, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GENEROUS_S)
    assert batcher.batches == [1] * 8
