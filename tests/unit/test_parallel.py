"""ordered_map: input order, exceptions in place, bounded read-ahead, early exit."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from visioncast.parallel import ordered_map


def slow_square(x: int) -> int:
    time.sleep(random.uniform(0, 0.01))
    if x == 7:
        raise ValueError("seven")
    return x * x


def test_results_come_in_input_order_with_exceptions_in_place() -> None:
    out = list(ordered_map(slow_square, range(30), 3))
    assert [item for item, _ in out] == list(range(30))
    assert all(result == item * item for item, result in out if item != 7)
    assert isinstance(out[7][1], ValueError)
    assert str(out[7][1]) == "seven"


def test_runs_calls_side_by_side() -> None:
    inside, most = [0], [0]
    lock = threading.Lock()

    def work(x: int) -> int:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.02)
        with lock:
            inside[0] -= 1
        return x

    assert [r for _, r in ordered_map(work, range(12), 3)] == list(range(12))
    assert most[0] == 3


def test_reads_only_a_few_items_ahead() -> None:
    pulled = [0]

    def items() -> Iterator[int]:
        for i in range(1000):
            pulled[0] += 1
            yield i

    results = ordered_map(lambda x: x, items(), 2)
    assert next(results) == (0, 0)
    assert pulled[0] <= 3  # workers + 1
    results.close()
    assert pulled[0] <= 4


def test_leaving_early_stops_reading_and_waits_for_calls_in_flight() -> None:
    done: list[int] = []

    def work(x: int) -> int:
        time.sleep(0.01)
        done.append(x)
        return x

    for item, _ in ordered_map(work, range(100), 2):
        if item == 3:
            break
    settled = len(done)
    time.sleep(0.05)
    assert len(done) == settled <= 6  # nothing runs after the loop has ended


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        list(ordered_map(lambda x: x, [1], 0))
