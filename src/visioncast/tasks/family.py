"""Recognise a detector's family from its ONNX inputs, outputs and metadata, and build its decoder. No I/O.

Rules, first match wins (an explicit ``family`` skips them):

1. two inputs, one of them ``[1, 2]`` or named like ``image_shape`` → ``yolov3-zoo``;
2. metadata ``author``/``description`` names Ultralytics, or one output [1, C, N], C < N → ``ultralytics``;
3. one output [1, N, C] with N = grid cells of strides 8/16/32 → ``yolox``; with N = 3 × cells → ``yolov5``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from visioncast.errors import ModelError
from visioncast.runtimes.base import Runtime, TensorSpec
from visioncast.tasks.detect import Decoder
from visioncast.tasks.yolo import (
    UltralyticsDecoder,
    Yolov3ZooDecoder,
    Yolov5Decoder,
    YoloxDecoder,
    grid_cells,
)

FAMILIES = ("yolox", "ultralytics", "yolov5", "yolov3-zoo")
DEFAULT_SIZE = 640


def describe_io(runtime: Runtime) -> str:
    """'inputs images[1, 3, 416, 416]; outputs output[1, 3549, 85]' — for error messages."""
    def fmt(specs: tuple[TensorSpec, ...]) -> str:
        return ", ".join(f"{s.name}{list(s.shape)}" for s in specs)
    return f"inputs {fmt(runtime.inputs)}; outputs {fmt(runtime.outputs)}"


def input_size(runtime: Runtime, image_input: TensorSpec, default: int = DEFAULT_SIZE) -> tuple[int, int]:
    """(width, height) of the image input: static dims, else metadata ``imgsz``, else ``default`` square."""
    h, w = image_input.static_dim(2), image_input.static_dim(3)
    if h and w:
        return w, h
    imgsz = runtime.metadata.get("imgsz")
    if imgsz:
        try:
            val = ast.literal_eval(imgsz)
            hh, ww = (val, val) if isinstance(val, int) else (int(val[0]), int(val[1]))
            return ww, hh
        except (ValueError, SyntaxError, TypeError, IndexError) as exc:
            raise ModelError(f"model metadata imgsz must be an int or [h, w], got {imgsz!r}") from exc
    return default, default


def _is_ultralytics(runtime: Runtime) -> bool:
    text = " ".join(runtime.metadata.get(k, "") for k in ("author", "description", "license")).lower()
    return "ultralytics" in text


def detect_family(runtime: Runtime) -> str:
    """The family name of a detector runtime; ModelError naming what was found when nothing matches."""
    ins, outs = runtime.inputs, runtime.outputs
    if len(ins) == 2 and any(i.shape[-1:] == (2,) or "shape" in i.name.lower() for i in ins):
        return "yolov3-zoo"
    if len(ins) == 1 and len(outs) == 1 and len(outs[0].shape) == 3:
        if _is_ultralytics(runtime):
            return "ultralytics"
        image = ins[0]
        w, h = input_size(runtime, image)
        n, c = outs[0].static_dim(1), outs[0].static_dim(2)
        if n and c and n < c:
            return "ultralytics"
        cells = grid_cells(w, h)
        if n == cells:
            return "yolox"
        if n == 3 * cells:
            return "yolov5"
    raise ModelError(
        f"cannot tell the detector family from {describe_io(runtime)}; expected one of "
        f"{', '.join(FAMILIES)} (pass --family to choose)"
    )


def make_decoder(runtime: Runtime, family: str | None = None) -> Decoder:
    """The decoder for ``runtime``, of ``family`` or the detected one."""
    family = family or detect_family(runtime)
    if family not in FAMILIES:
        raise ModelError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    if family == "yolov3-zoo":
        if len(runtime.inputs) != 2:
            raise ModelError(f"yolov3-zoo needs two inputs (image, image_shape), got {describe_io(runtime)}")
        image, shape = sorted(runtime.inputs, key=lambda i: len(i.shape) != 4)
        return Yolov3ZooDecoder(image.name, shape.name, input_size(runtime, image, default=416))
    image = runtime.inputs[0]
    size = input_size(runtime, image)
    decoders: dict[str, Callable[[str, tuple[int, int]], Decoder]] = {
        "yolox": YoloxDecoder, "ultralytics": UltralyticsDecoder, "yolov5": Yolov5Decoder}
    return decoders[family](image.name, size)


def class_count(runtime: Runtime, family: str) -> int | None:
    """How many classes a ``family`` detector's outputs score (None when the shape is dynamic)."""
    outs = runtime.outputs
    if family == "yolov3-zoo":
        return outs[1].static_dim(1) if len(outs) > 1 else None
    if family == "ultralytics":
        n = outs[0].static_dim(1)
        return n - 4 if n else None
    n = outs[0].static_dim(-1)
    return n - 5 if n else None
