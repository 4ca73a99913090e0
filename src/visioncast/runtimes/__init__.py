"""Inference engines behind one small protocol. ``open_runtime`` is the only door; engines load lazily.

onnxruntime is the default engine; OpenVINO is the optional extra ``visioncast[openvino]``.
"""

from __future__ import annotations

import os
from pathlib import Path

from visioncast.errors import ModelError
from visioncast.runtimes.base import (
    DEVICES,
    ENGINES,
    PRECISIONS,
    AsyncQueue,
    ImageInput,
    Runtime,
    TensorSpec,
)

__all__ = ["DEVICES", "ENGINES", "PRECISIONS", "AsyncQueue", "ImageInput", "Runtime", "TensorSpec",
           "default_threads", "engines_here", "fold_image_input", "open_runtime"]


def default_threads() -> int:
    """Intra-op threads: the CPUs this process may use (a container's quota, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def engines_here() -> tuple[str, bool]:
    """('onnxruntime 1.32.0, openvino 2026.4.1', whether OpenVINO's CPU plugin has bf16 units): the engines
    installed and what the CPU offers them, for the automatic choice (models/choice.py)."""
    import onnxruntime  # noqa: PLC0415 — versions only

    try:
        import openvino  # noqa: PLC0415 — optional extra
    except ImportError:
        return f"onnxruntime {onnxruntime.__version__}", False
    try:
        bf16 = "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except RuntimeError:
        bf16 = False
    version = openvino.get_version().split("-")[0]
    return f"onnxruntime {onnxruntime.__version__}, openvino {version}", bf16


def replica_engine(engine: str) -> str:
    """The engine a Ray replica opens for the configured ``engine``: ``auto`` is measured where a model loads
    locally (models/choice.py); a replica (its own threads, maybe another machine) runs the reference,
    onnxruntime."""
    return "onnxruntime" if engine == "auto" else engine


def open_runtime(
    path: str | Path,
    engine: str = "onnxruntime",
    *,
    device: str = "CPU",
    precision: str = "f32",
    threads: int | None = None,
    dequantize: bool = False,
) -> Runtime:
    """Load the ONNX model at ``path`` on ``engine``; raises ModelError naming what is wrong. ``dequantize``:
    run a dynamically int8-quantised file's convolutions in float (runtimes/dequantize.py; ModelError when the
    file has none)."""
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
    model = _dequantized(path) if dequantize else None
    if engine == "openvino":
        from visioncast.runtimes.openvino import OpenVinoRuntime  # noqa: PLC0415 - optional extra, lazy

        return OpenVinoRuntime(path, device=device.upper(), precision=precision, threads=threads, model=model)
    from visioncast.runtimes.onnx import OnnxRuntime  # noqa: PLC0415 - engines load only when used

    return OnnxRuntime(path, device=device.upper(), threads=threads, model=model)


def _dequantized(path: Path) -> bytes:
    from visioncast.runtimes.dequantize import dequantize_convolutions  # noqa: PLC0415 — onnx only when asked

    try:
        model = dequantize_convolutions(path.read_bytes())
    except Exception as exc:  # onnx's DecodeError and friends: the file is not a model
        raise ModelError(f"cannot read '{path}' as an ONNX model: {exc}") from exc
    if model is None:
        raise ModelError(f"'{path.name}' has no dynamically quantised convolutions to run in float")
    return model


def fold_image_input(runtime: Runtime, spec: ImageInput) -> Runtime | None:
    """A runtime of the same model and settings that takes ``spec``'s BGR uint8 1×H×W×3 image and converts it
    inside the graph (runtimes/prefix.py), or None where that cannot be: a runtime that is not a local engine
    (a Ray deployment's), an input that is not float32 NCHW, or a reduced precision (OpenVINO bf16 would run
    the prefix's Mul in bf16 too: not the same values as numpy's float32). The caller closes the old
    runtime."""
    reload = getattr(runtime, "reload", None)
    path = getattr(runtime, "path", None)
    if reload is None or not isinstance(path, Path) or not path.is_file() or \
            getattr(runtime, "precision", "f32") != "f32":
        return None
    from visioncast.runtimes.prefix import add_image_prefix  # noqa: PLC0415 — onnx loads only to fold

    folded = add_image_prefix(getattr(runtime, "model_bytes", None) or path.read_bytes(), spec)
    return None if folded is None else reload(folded)
