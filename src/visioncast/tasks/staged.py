"""The Runtime of a task whose inference is more than one model call: people, then each person's keypoints
(top-down pose); a face model over the tiles of a large photo. Pure: no I/O of its own.

The pipeline and :func:`~visioncast.tasks.base.run_stages` run a task's feeds on ``task.runtime`` — ``run``
for one image, ``open_async`` for frames in flight — so a task of several calls answers with a
:class:`StagedRuntime`: the ``first`` model's inputs are taken from the feeds and run (asynchronously on the
first runtime's own queue, as any model), then ``finish(feeds, first_outputs)`` makes the remaining calls and
answers the outputs ``postprocess`` reads. The feeds may carry more than the first model takes (the original
image for crops, the other tiles): those are passed to ``finish`` only. ``finish`` runs on the thread that
delivers the first call's outputs (a worker of the async queue), so frames in flight overlap whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import numpy as np

from visioncast.runtimes.base import AsyncCallback, AsyncQueue, Runtime, TensorSpec

Finish = Callable[[dict[str, np.ndarray], list[np.ndarray]], list[np.ndarray]]


class StagedRuntime:
    """``first`` followed by ``finish``, as one :class:`~visioncast.runtimes.base.Runtime`.

    ``inputs``: the first model's and ``extra_inputs`` (what only ``finish`` reads); ``outputs``: what
    ``finish`` answers (default: the first model's); ``owned``: further runtimes ``finish`` calls, closed with
    this one.
    """

    def __init__(self, first: Runtime, finish: Finish, *, extra_inputs: Sequence[TensorSpec] = (),
                 outputs: Sequence[TensorSpec] | None = None, owned: Sequence[Runtime] = ()) -> None:
        self.first, self._finish, self._owned = first, finish, tuple(owned)
        self.engine = first.engine
        self.inputs: tuple[TensorSpec, ...] = (*first.inputs, *extra_inputs)
        self.outputs: tuple[TensorSpec, ...] = tuple(outputs) if outputs is not None else first.outputs
        self.metadata = first.metadata
        self._names = tuple(spec.name for spec in first.inputs)

    def head(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The feeds the first model takes."""
        return {name: feeds[name] for name in self._names}

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._finish(feeds, self.first.run(self.head(feeds)))

    def open_async(self, jobs: int, callback: AsyncCallback) -> AsyncQueue:
        """``jobs`` whole stages in flight: the first call on the first runtime's queue, ``finish`` on the
        thread that receives its outputs (a failure there counts as the job's, as any failed call)."""
        return StagedQueue(self, self._finish, jobs, callback)

    def close(self) -> None:
        for runtime in (self.first, *self._owned):
            runtime.close()


class StagedQueue:
    """The :class:`~visioncast.runtimes.base.AsyncQueue` of a :class:`StagedRuntime`."""

    def __init__(self, staged: StagedRuntime, finish: Finish, jobs: int, callback: AsyncCallback) -> None:
        self._staged, self._finish, self._callback = staged, finish, callback
        self._inner = staged.first.open_async(jobs, self._done)
        self.jobs = self._inner.jobs

    @property
    def failed(self) -> int:
        """Jobs whose first call or ``finish`` failed (counted by the first runtime's queue)."""
        return self._inner.failed

    @failed.setter
    def failed(self, value: int) -> None:
        self._inner.failed = value

    def _done(self, outputs: list[np.ndarray], userdata: Any) -> None:
        feeds, theirs = userdata
        self._callback(self._finish(feeds, outputs), theirs)

    def submit(self, feeds: dict[str, np.ndarray], userdata: Any = None) -> None:
        self._inner.submit(self._staged.head(feeds), (feeds, userdata))

    def wait_all(self) -> None:
        self._inner.wait_all()

    def __enter__(self) -> StagedQueue:
        self._inner.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._inner.__exit__(kind, exc, tb)
