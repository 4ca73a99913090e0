"""What every staged task shares: ``infer`` is one runtime call, ``__call__`` runs the three stages and times
them. Pure, no I/O; subclasses supply ``prepare`` and ``postprocess`` (see :mod:`visioncast.tasks.base`).
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import TypeVar

import numpy as np

from visioncast.core.types import Result
from visioncast.runtimes.base import Runtime
from visioncast.tasks.base import Prepared
from visioncast.tasks.detect import DetectOptions

T = TypeVar("T", bound="StagedTask")


class StagedTask(ABC):
    """Base of the pose, face and Ultralytics tasks: ``task``, ``name``, ``runtime`` and the shared stages;
    a subclass supplies ``prepare`` and ``postprocess``."""

    task: str = ""
    name: str = ""
    runtime: Runtime
    options: DetectOptions

    def with_options(self: T, options: DetectOptions) -> T:
        """A shallow copy on the same runtime with other thresholds (one request's query, say); the shared
        instance is left as it was."""
        other = copy.copy(self)
        other.options = options
        return other

    @abstractmethod
    def prepare(self, image: np.ndarray) -> Prepared:
        """BGR uint8 H×W×3 image → feeds for the runtime + what postprocess needs."""

    @abstractmethod
    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        """The runtime's outputs → a Result in original-image pixels."""

    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One synchronous run of the runtime."""
        return self.runtime.run(feeds)

    def __call__(self, image: np.ndarray) -> Result:
        """prepare → infer → postprocess on a BGR uint8 H×W×3 image; ``timings_ms`` per stage."""
        t0 = time.perf_counter()
        prepared = self.prepare(image)
        t1 = time.perf_counter()
        outputs = self.infer(prepared.feeds)
        t2 = time.perf_counter()
        result = self.postprocess(outputs, prepared)
        t3 = time.perf_counter()
        timings = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3,
                   "postprocess": (t3 - t2) * 1e3}
        return replace(result, timings_ms=timings)
