"""The inference stage of the pipeline: the task's prepared feeds on its runtime's async queue. I/O: none.

``runtime.open_async`` is part of the Runtime protocol: OpenVINO's infer-request queue on the
throughput-compiled model, onnxruntime's worker threads on its one-thread-per-call session (``runtimes/``).
Several frames are in flight (``async_jobs``, 0 = the engine's optimum); results complete out of order and a
re-order buffer releases them in frame order.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from visioncast.pipeline.marker import END
from visioncast.tasks.base import Task


class StageHost(Protocol):
    """What this stage uses of its pipeline (:class:`visioncast.pipeline.Pipeline`)."""

    task: Task
    q_infer: queue.Queue[Any]
    q_post: queue.Queue[Any]

    @property
    def error(self) -> BaseException | None: ...

    @property
    def options(self) -> Any: ...

    def put(self, q: queue.Queue[Any], item: Any) -> None: ...

    def step(self, stage: str, fn: Callable[[Any], None], item: Any) -> bool: ...

    def prepare(self, item: Any) -> None: ...


def infer_loop(p: StageHost) -> None:
    """Consume prepared frames, run the model, pass them on in order; always passes the end marker on."""
    try:
        _async_loop(p)
    finally:
        p.put(p.q_post, END)


def _next(p: StageHost) -> Any:
    """The next frame ready for the model (prepared here in latest-frame mode), or END."""
    while (item := p.q_infer.get()) is not END:
        if p.error is not None:
            continue
        if item.prepared is not None or p.step("preprocess", p.prepare, item):
            return item
    return END


class _Reorder:
    """Releases completed frames in submission order (sequence numbers 0, 1, 2…)."""

    def __init__(self, p: StageHost) -> None:
        self._p = p
        self._lock = threading.Lock()
        self._pending: dict[int, Any] = {}
        self._next = 0

    def done(self, seq: int, item: Any) -> None:
        with self._lock:
            self._pending[seq] = item
            while self._next in self._pending:
                ready = self._pending.pop(self._next)
                self._next += 1
                self._p.put(self._p.q_post, ready)


def _async_loop(p: StageHost) -> None:
    reorder = _Reorder(p)
    started: dict[int, float] = {}

    def on_result(outputs: list[np.ndarray], userdata: Any) -> None:
        seq, item = userdata
        item.outputs = outputs
        item.timings["inference"] = (time.perf_counter() - started.pop(seq)) * 1e3
        reorder.done(seq, item)

    with p.task.runtime.open_async(p.options.async_jobs, on_result) as jobs:
        seq = 0
        while (item := _next(p)) is not END:
            started[seq] = time.perf_counter()
            jobs.submit(item.prepared.feeds, (seq, item))
            seq += 1
            if jobs.failed:  # a lost frame would hold back every later one in the re-order buffer
                jobs.wait_all()  # raises the ModelError: the run stops with it
