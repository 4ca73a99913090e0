"""The Runtime protocol every inference engine satisfies, and the tensor description it exposes. Pure, no I/O.

Tasks depend on this module only; the engine modules (onnx.py, openvino.py) are the only importers of
onnxruntime and openvino.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

ENGINES = ("onnxruntime", "openvino")
DEVICES = ("CPU", "GPU", "AUTO")
PRECISIONS = ("f32", "bf16")


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

    def close(self) -> None:
        """Free the engine's resources."""
        ...
