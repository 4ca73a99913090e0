"""The Runtime protocol every inference engine satisfies, and the tensor description it exposes. Pure, no I/O.

Tasks depend on this module only; the engine modules (onnx.py, openvino.py) are the only importers of
onnxruntime and openvino. Every engine offers both ways of running: ``run`` (one synchronous call) and
``open_async`` (several calls in flight: OpenVINO's infer requests, onnxruntime's one-thread-per-call
workers), so a caller such as the pipeline never asks which engine it has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import numpy as np

ENGINES = ("onnxruntime", "openvino")
DEVICES = ("CPU", "GPU", "AUTO")
PRECISIONS = ("f32", "bf16")

AsyncCallback = Callable[[list[np.ndarray], Any], None]
"""``callback(outputs, userdata)``: once per submitted job, on a worker thread, possibly out of order."""


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output: name, shape (ints, or None/str for dynamic axes) and numpy dtype name."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: str

    def static_dim(self, axis: int) -> int | None:
        """The size of ``axis`` when fixed, else None."""
        d = self.shape[axis] if -len(self.shape) <= axis < len(self.shape) else None
        return d if isinstance(d, int) and d > 0 else None


@dataclass(frozen=True)
class ImageInput:
    """How a task feeds its image input when the engine folds the preprocessing into the model's graph
    (:func:`visioncast.runtimes.fold_image_input`): the letterboxed BGR uint8 image as a 1×H×W×3 tensor named
    ``name``, of ``size_wh``; the graph reverses the channels when ``rgb``, casts to float32, multiplies by
    ``scale`` and transposes to the model's 1×3×H×W."""

    name: str
    size_wh: tuple[int, int]
    rgb: bool
    scale: float = 1.0


class AsyncQueue(Protocol):
    """Inferences in flight on a runtime (a context manager: leaving it waits for them, then frees the jobs).

    ``submit`` blocks while all ``jobs`` are busy; the callback given to ``open_async`` gets each job's
    outputs with its ``userdata``; a failing call or callback is counted in ``failed`` (never raised on the
    worker thread) and ``wait_all`` raises ModelError chained to the first failure.
    """

    jobs: int
    failed: int

    def submit(self, feeds: dict[str, np.ndarray], userdata: Any = None) -> None:
        """Start one inference."""
        ...

    def wait_all(self) -> None:
        """Block until every submitted inference has run its callback; ModelError if one failed."""
        ...

    def __enter__(self) -> AsyncQueue: ...

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


@runtime_checkable
class Runtime(Protocol):
    """A loaded model that maps named input arrays to its output arrays (in output order)."""

    engine: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    metadata: dict[str, str]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run one inference; arrays in the order of ``outputs``."""
        ...

    def open_async(self, jobs: int, callback: AsyncCallback) -> AsyncQueue:
        """A queue keeping ``jobs`` inferences in flight (≤ 0: the engine's optimum): :class:`AsyncQueue`."""
        ...

    def close(self) -> None:
        """Free the engine's resources."""
        ...


@runtime_checkable
class RemoteStages(Protocol):
    """A runtime whose engine is elsewhere (a Ray Serve replica) and that can also run a task's postprocess
    there, so that only the result travels back (boxes, not YOLOX's 1.2 MB output tensor)."""

    def run_task(self, task: Any, prepared: Any) -> Any:
        """``task.postprocess(engine(prepared.feeds), prepared)`` where the engine runs: a Result, or None
        when ``task`` cannot travel (then the caller runs the stages itself)."""
        ...

