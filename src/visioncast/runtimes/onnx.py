"""ONNX Runtime engine (the default). I/O: reads the model file.

Threads: intra-op = the CPUs available to the process, inter-op = 1 and sequential execution: these
YOLO/ResNet graphs are a single chain, so parallel branches buy nothing and extra pools only contend for the
same cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from visioncast.errors import ModelError
from visioncast.runtimes.base import TensorSpec

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
}


def _spec(arg: ort.NodeArg) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else (d or None) for d in (arg.shape or ()))
    return TensorSpec(arg.name, shape, _ORT_TYPES.get(arg.type, arg.type))


class OnnxRuntime:
    """A model loaded in an onnxruntime InferenceSession (CPU execution provider)."""

    engine = "onnxruntime"

    def __init__(self, path: Path, *, device: str = "CPU", threads: int = 1) -> None:
        if device not in ("CPU", "AUTO"):
            raise ModelError(f"onnxruntime in visioncast runs on CPU only, got device {device!r}; "
                             "use --engine openvino for GPU")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several unrelated types for a bad file
            raise ModelError(f"cannot load '{path}' with onnxruntime: {exc}") from exc
        self.path = path
        self.inputs = tuple(_spec(a) for a in self._session.get_inputs())
        self.outputs = tuple(_spec(a) for a in self._session.get_outputs())
        meta = self._session.get_modelmeta()
        self.metadata: dict[str, str] = dict(meta.custom_metadata_map or {})
        self._output_names = [o.name for o in self.outputs]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        try:
            return list(self._session.run(self._output_names, feeds))
        except Exception as exc:  # InvalidArgument / Fail / RuntimeException are not exported types
            raise ModelError(f"onnxruntime failed to run '{self.path.name}': {exc}") from exc

    def close(self) -> None:
        self._session = None
