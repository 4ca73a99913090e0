"""Ordered, bounded parallel map: ``for item, result in ordered_map(fn, items, workers): …``. I/O: threads.

Why: a video job detects frame after frame. With two frames in flight the runtime runs them side by side
(onnxruntime's one-thread-per-call session, ``runtimes/onnx.py``), which on 2 cores gets more frames per
second out of a small model than one call split over both cores. Results still come back in input order, at
most ``workers`` calls are in flight and at most ``workers + 1`` items are read ahead of the consumer, so a
long video is never read into memory. A call that raises yields its exception as the result (the consumer
decides: count and skip one bad frame, or stop); leaving the loop early waits for the calls in flight.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int, *, name: str = "visioncast-map"
) -> Iterator[tuple[T, R | Exception]]:
    """(item, fn(item) or the Exception it raised) in the order of ``items``, ``workers`` calls at once."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    pending: deque[tuple[T, Future[R]]] = deque()

    def take() -> tuple[T, R | Exception]:
        item, future = pending.popleft()
        try:
            return item, future.result()
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which knows what a failure means
            return item, exc

    with ThreadPoolExecutor(workers, thread_name_prefix=name) as pool:
        try:
            for item in items:
                pending.append((item, pool.submit(fn, item)))
                if len(pending) > workers:  # one waits queued, so every worker stays busy
                    yield take()
            while pending:
                yield take()
        finally:  # the consumer stopped early (break, error): drop what has not started, wait for the rest
            for _, future in pending:
                future.cancel()

