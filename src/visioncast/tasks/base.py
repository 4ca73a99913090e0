"""The Task protocol every task satisfies (detect, classify, pose, face, taught models). Pure, no I/O.

A task owns its three stages, so a caller (the pipeline, the server, the CLI) never reaches inside it:

1. ``prepare(image)`` → :class:`Prepared`: the runtime feeds and whatever ``postprocess`` needs to map the
   model's outputs back to the image (letterbox geometry, crop, original size);
2. ``infer(feeds)`` → the runtime's outputs, one synchronous call (the pipeline may instead submit the same
   feeds to the runtime's async queue, ``runtime.open_async``: same outputs);
3. ``postprocess(outputs, prepared)`` → :class:`~visioncast.core.types.Result` in original-image pixels.

``task(image)`` runs the three in a row and fills ``Result.timings_ms`` (:func:`run_stages`). Per-call
options (a detector's thresholds, a classifier's top-k) are given to ``prepare`` and travel in
``Prepared.context``, so ``postprocess`` keeps its two arguments whatever the task.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from visioncast.core.types import Result
from visioncast.runtimes.base import Runtime


@dataclass(frozen=True)
class Prepared:
    """One image made ready for the model: ``feeds`` (input name → tensor), the original ``image_wh`` and a
    task-specific ``context`` (e.g. the letterbox geometry) that ``postprocess`` needs."""

    feeds: dict[str, np.ndarray]
    image_wh: tuple[int, int]
    context: Any = None


@runtime_checkable
class Task(Protocol):
    """A model with its pre- and post-processing. ``task``: "detect" | "classify" | "pose" | "face"."""

    task: str
    name: str
    runtime: Runtime

    def prepare(self, image: np.ndarray) -> Prepared:
        """BGR uint8 H×W×3 image → feeds for the runtime + what postprocess needs."""
        ...

    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One synchronous run of the runtime."""
        ...

    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        """The runtime's outputs → a Result in original-image pixels."""
        ...

    def __call__(self, image: np.ndarray) -> Result:
        """prepare → infer → postprocess, timings filled in."""
        ...


def run_stages(task: Task, image: np.ndarray, prepare: Callable[[np.ndarray], Prepared] | None = None
               ) -> Result:
    """``task``'s three stages on one image (``prepare`` instead of ``task.prepare`` for per-call options),
    with ``timings_ms`` {preprocess, inference, postprocess}."""
    t0 = time.perf_counter()
    prepared = (prepare or task.prepare)(image)
    t1 = time.perf_counter()
    outputs = task.infer(prepared.feeds)
    t2 = time.perf_counter()
    result = task.postprocess(outputs, prepared)
    t3 = time.perf_counter()
    timings = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3, "postprocess": (t3 - t2) * 1e3}
    return replace(result, timings_ms=timings)
