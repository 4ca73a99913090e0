"""The Task protocol every task satisfies (detect, classify, pose, face, taught models) and the per-call
options it takes. Pure, no I/O.

A task owns its three stages, so a caller (the pipeline, the server, the CLI) never reaches inside it:

1. ``prepare(image, options)`` → :class:`Prepared`: the runtime feeds, the options resolved against the
   task's own defaults, and whatever ``postprocess`` needs to map the model's outputs back to the image
   (letterbox geometry, crop, original size);
2. ``infer(feeds)`` → the runtime's outputs, one synchronous call (the pipeline may instead submit the same
   feeds to the runtime's async queue, ``runtime.open_async``: same outputs);
3. ``postprocess(outputs, prepared)`` → :class:`~visioncast.core.types.Result` in original-image pixels.

:func:`run_stages` runs the three in a row and fills ``Result.timings_ms``. Per-call options are one frozen
:class:`TaskOptions` whatever the task: a field left ``None`` takes the task's default (``task.options``), a
field the task has no use for is ignored (``top`` by a detector, ``iou`` by a classifier). A task that keeps
state from frame to frame (MoveNet following one person) gives each stream its own instance through
``for_stream``; every other task answers itself.
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from visioncast.core.types import Result
from visioncast.errors import InputError
from visioncast.runtimes.base import RemoteStages, Runtime


@dataclass(frozen=True)
class TaskOptions:
    """Per-call options of any task; ``None`` = the task's own default.

    conf: minimum score (detections, people, faces); iou: NMS overlap threshold; max_det: cap on detections;
    classes: keep only these class ids; top: how many classes a classifier answers.
    """

    conf: float | None = None
    iou: float | None = None
    max_det: int | None = None
    classes: tuple[int, ...] | None = None
    top: int | None = None

    def __post_init__(self) -> None:
        for name in ("conf", "iou"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:  # also refuses nan
                raise InputError(f"{name} must be between 0 and 1, got {value}")
        for name in ("max_det", "top"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"{name} must be at least 1, got {value}")

    def over(self, base: TaskOptions) -> TaskOptions:
        """These options where set, ``base``'s elsewhere."""
        return replace(base, **{f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (a video job keeps its options on disk)."""
        data = asdict(self)
        if self.classes is not None:
            data["classes"] = list(self.classes)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskOptions:
        """The inverse of :meth:`to_dict`; unknown keys are ignored (an older job's file)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names and v is not None}
        if "classes" in values:
            values["classes"] = tuple(int(c) for c in values["classes"])
        for key in ("conf", "iou"):
            if key in values:
                values[key] = float(values[key])
        for key in ("max_det", "top"):
            if key in values:
                values[key] = int(values[key])
        return cls(**values)


NO_OPTIONS = TaskOptions()


@dataclass(frozen=True)
class Prepared:
    """One image made ready for the model: ``feeds`` (input name → tensor), the original ``image_wh``, the
    ``options`` in force for this call (resolved: no field the task uses is None) and a task-specific
    ``context`` (e.g. the letterbox geometry) that ``postprocess`` needs."""

    feeds: dict[str, np.ndarray]
    image_wh: tuple[int, int]
    context: Any = None
    options: TaskOptions = NO_OPTIONS


@runtime_checkable
class Task(Protocol):
    """A model with its pre- and post-processing.

    ``task``: "detect" | "classify" | "pose" | "face"; ``labels``: its class names; ``options``: its
    defaults (every field it uses set).
    """

    task: str
    name: str
    labels: tuple[str, ...]
    runtime: Runtime
    options: TaskOptions

    def prepare(self, image: np.ndarray, options: TaskOptions | None = None) -> Prepared:
        """BGR uint8 H×W×3 image → feeds for the runtime + what postprocess needs (``options`` over the
        task's defaults)."""
        ...

    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One synchronous run of the runtime."""
        ...

    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        """The runtime's outputs → a Result in original-image pixels."""
        ...

    def for_stream(self, key: str | None = None) -> Task:
        """The task to run on successive frames of one stream: an instance of its own for a task that keeps
        state between frames (the same one for the same ``key``), else this task."""
        ...


class TaskBase(ABC):
    """What every task shares: its defaults resolved against per-call options, ``infer`` as one runtime call,
    no per-stream state, and ``task(image, options)`` as :func:`run_stages`. Subclasses set ``task``,
    ``name``, ``labels``, ``runtime`` and ``options`` and supply ``prepare`` and ``postprocess``."""

    task: str = ""
    name: str = ""
    labels: tuple[str, ...] = ()
    runtime: Runtime
    options: TaskOptions = NO_OPTIONS

    def resolve(self, options: TaskOptions | None) -> TaskOptions:
        """``options`` over this task's defaults."""
        return self.options if options is None or options == NO_OPTIONS else options.over(self.options)

    @abstractmethod
    def prepare(self, image: np.ndarray, options: TaskOptions | None = None) -> Prepared:
        """BGR uint8 H×W×3 image → feeds for the runtime + what postprocess needs."""

    @abstractmethod
    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        """The runtime's outputs → a Result in original-image pixels."""

    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One synchronous run of the runtime."""
        return self.runtime.run(feeds)

    def for_stream(self, key: str | None = None) -> Task:
        """No state between frames: the stream runs this task."""
        return self

    def __call__(self, image: np.ndarray, options: TaskOptions | None = None) -> Result:
        """prepare → infer → postprocess on a BGR uint8 H×W×3 image; ``timings_ms`` per stage."""
        return run_stages(self, image, options)


def without_runtime(task: Task) -> Task:
    """A shallow copy of ``task`` with no runtime: its settings (labels, options, decoder) as they travel to
    a Ray node, where a runtime of the node's own is set again."""
    bare = copy.copy(task)
    bare.runtime = None  # type: ignore[assignment]
    return bare


def run_stages(task: Task, image: np.ndarray, options: TaskOptions | None = None) -> Result:
    """``task``'s three stages on one image with per-call ``options``, with ``timings_ms`` {preprocess,
    inference, postprocess}."""
    t0 = time.perf_counter()
    prepared = task.prepare(image, options)
    t1 = time.perf_counter()
    if isinstance(task.runtime, RemoteStages):  # the engine and the postprocess where the engine runs
        remote = task.runtime.run_task(task, prepared)
        if remote is not None:
            t2 = time.perf_counter()
            post = remote.timings_ms.get("postprocess", 0.0) if remote.timings_ms else 0.0
            return replace(remote, timings_ms={"preprocess": (t1 - t0) * 1e3,
                                               "inference": (t2 - t1) * 1e3 - post, "postprocess": post})
    outputs = task.infer(prepared.feeds)
    t2 = time.perf_counter()
    result = task.postprocess(outputs, prepared)
    t3 = time.perf_counter()
    timings = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3, "postprocess": (t3 - t2) * 1e3}
    return replace(result, timings_ms=timings)
