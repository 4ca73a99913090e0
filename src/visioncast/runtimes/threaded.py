"""The AsyncQueue of runtimes whose calls block a thread: ``jobs`` worker threads, each running one job at a
time. I/O: none of its own (the subclass's ``_finish`` does the call).

onnxruntime (one-thread-per-call sessions) and Ray (a Serve handle's response, waited for) keep several
inferences in flight this way; OpenVINO has its own request queue. A subclass says what a job is:
:meth:`ThreadedQueue._begin` turns the feeds into one on the submitting thread (Ray sends the request there),
:meth:`ThreadedQueue._finish` turns it into the outputs on a worker thread. The contract is
:class:`~visioncast.runtimes.base.AsyncQueue`'s: ``submit`` blocks while all ``jobs`` are busy; a failing call
or callback is counted in ``failed`` and logged, never raised on a worker thread; ``wait_all`` raises
ModelError chained to the first failure; leaving the ``with`` block waits, then ends the threads.
"""

from __future__ import annotations

import logging
import queue
import threading
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any

import numpy as np

from visioncast.errors import ModelError
from visioncast.runtimes.base import AsyncCallback

log = logging.getLogger(__name__)
_STOP = object()


class ThreadedQueue(ABC):
    """``jobs`` worker threads running submitted jobs; counts ``submitted``/``completed``/``failed``.
    ``what`` names the queue in messages ("onnxruntime queue of 'm.onnx'"), ``engine`` its failures ("2
    onnxruntime async job(s) failed"), ``threads`` its threads ("visioncast-ort" → visioncast-ort-0, -1…)."""

    def __init__(self, jobs: int, callback: AsyncCallback, *, what: str, engine: str, threads: str) -> None:
        self.jobs, self._callback, self._what, self._engine = jobs, callback, what, engine
        self._todo: queue.Queue[Any] = queue.Queue()
        self._free = threading.Semaphore(jobs)
        self._idle = threading.Condition()
        self._first_error: BaseException | None = None
        self.submitted = self.completed = self.failed = 0
        self._workers = [threading.Thread(target=self._work, name=f"{threads}-{i}", daemon=True)
                         for i in range(jobs)]
        for worker in self._workers:
            worker.start()

    def _begin(self, feeds: dict[str, np.ndarray]) -> Any:
        """The job for ``feeds``, made on the submitting thread (default: the feeds themselves)."""
        return feeds

    @abstractmethod
    def _finish(self, job: Any) -> list[np.ndarray]:
        """The outputs of ``job``, on a worker thread."""

    def _work(self) -> None:
        while (task := self._todo.get()) is not _STOP:
            job, userdata = task
            try:
                self._callback(self._finish(job), userdata)
            except Exception as exc:  # a failed call or callback: count, log, keep the other jobs going
                log.warning("%s: async job %r failed: %s", self._what, userdata, exc,
                            exc_info=not isinstance(exc, ModelError))
                with self._idle:
                    self.failed += 1
                    self._first_error = self._first_error or exc
            else:
                with self._idle:
                    self.completed += 1
            finally:
                with self._idle:
                    self._idle.notify_all()
                self._free.release()

    def submit(self, feeds: dict[str, np.ndarray], userdata: Any = None) -> None:
        """Start one inference; blocks while all ``jobs`` are busy."""
        if not self._workers:
            raise ModelError(f"the {self._what} is closed")
        self._free.acquire()
        with self._idle:
            self.submitted += 1
        self._todo.put((self._begin(feeds), userdata))

    def wait_all(self) -> None:
        """Block until every submitted inference has run its callback; ModelError if one failed."""
        with self._idle:
            self._idle.wait_for(lambda: self.completed + self.failed == self.submitted)
            error, failed, self._first_error = self._first_error, self.failed, None
        if error is not None:
            raise ModelError(f"{failed} {self._engine} async job(s) failed; first: {error}") from error

    def close(self) -> None:
        """Let in-flight jobs finish, then end the worker threads."""
        for _ in self._workers:
            self._todo.put(_STOP)
        for worker in self._workers:
            worker.join()
        self._workers = []

    def __enter__(self) -> ThreadedQueue:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if kind is None:
                self.wait_all()
        finally:
            self.close()
