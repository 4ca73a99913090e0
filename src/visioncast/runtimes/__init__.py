"""Inference engines behind one small protocol. ``open_runtime`` is the only door; engines load lazily.

onnxruntime is the default engine; OpenVINO is the optional extra ``visioncast[openvino]``.
"""

from __future__ import annotations

import os
from pathlib import Path

from visioncast.errors import ModelError
from visioncast.runtimes.base import DEVICES, ENGINES, PRECISIONS, AsyncQueue, Runtime, TensorSpec

__all__ = ["DEVICES", "ENGINES", "PRECISIONS", "AsyncQueue", "Runtime", "TensorSpec", "default_threads",
           "open_runtime"]


def default_threads() -> int:
    """Intra-op threads: the CPUs this process may use (a container's quota, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def open_runtime(
    path: str | Path,
    engine: str = "onnxruntime",
    *,
    device: str = "CPU",
    precision: str = "f32",
    threads: int | None = None,
) -> Runtime:
    """Load the ONNX model at ``path`` on ``engine``; raises ModelError naming what is wrong."""
    path = Path(path)
    if engine not in ENGINES:
        raise ModelError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if device.upper() not in DEVICES:
        raise ModelError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if precision not in PRECISIONS:
        raise ModelError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if not path.is_file():
        raise ModelError(f"model file not found: '{path}'")
    threads = threads or default_threads()
    if engine == "openvino":
        from visioncast.runtimes.openvino import OpenVinoRuntime  # noqa: PLC0415 - optional extra, lazy

        return OpenVinoRuntime(path, device=device.upper(), precision=precision, threads=threads)
    from visioncast.runtimes.onnx import OnnxRuntime  # noqa: PLC0415 - engines load only when used

    return OnnxRuntime(path, device=device.upper(), threads=threads)
