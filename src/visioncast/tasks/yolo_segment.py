"""Ultralytics segmentation exports (YOLOv8/11-seg) run as detectors: boxes, classes and scores; the masks are
not decoded yet. No I/O; pinned by a test on a tiny ONNX graph.

Layout: output0 [1, 4 + nc + M, N] (cx, cy, w, h, nc class scores, M mask coefficients) and output1
[1, M, H/4, W/4] (the mask prototypes). Decoding output0's first 4 + nc rows is the Ultralytics detector's
decoding; the coefficient rows must not be taken for classes, so ``nc`` comes from the metadata ``names``
(counted by the caller), else from the rows left after the prototypes' M.
"""

from __future__ import annotations

import numpy as np

from visioncast.core.boxes import Letterbox
from visioncast.errors import ModelError
from visioncast.runtimes.base import Runtime
from visioncast.tasks.detect import Candidates
from visioncast.tasks.family import describe_io, input_size
from visioncast.tasks.yolo import UltralyticsDecoder

MASKS_NOTE = "masks are not drawn yet: segmentation models give boxes, classes and scores only"


def is_ultralytics_segment(runtime: Runtime) -> bool:
    """Two outputs, [1, C, N] and [1, M, h, w] prototypes (or metadata ``task: segment``)."""
    outs = runtime.outputs
    if len(runtime.inputs) != 1 or len(outs) != 2:
        return False
    if runtime.metadata.get("task") == "segment":
        return True
    return len(outs[0].shape) == 3 and len(outs[1].shape) == 4 and outs[0].static_dim(1) is not None


class UltralyticsSegmentBoxes(UltralyticsDecoder):
    """The Ultralytics detector's decoding on the box and class rows of a segmentation export."""

    def __init__(self, input_name: str, input_size_wh: tuple[int, int], classes: int) -> None:
        super().__init__(input_name, input_size_wh)
        self.family = "ultralytics-segment"
        self.classes = classes

    def decode(self, outputs: list[np.ndarray], box: Letterbox, conf: float) -> Candidates:
        return super().decode([outputs[0][:, : 4 + self.classes]], box, conf)


def segment_decoder(runtime: Runtime, classes: int | None = None) -> UltralyticsSegmentBoxes:
    """The box decoder of a segmentation export with ``classes`` classes (None: read from the output
    shapes); ModelError when the class count cannot be told."""
    out, protos = runtime.outputs
    rows, masks = out.static_dim(1), protos.static_dim(1)
    if classes is None and rows and masks:
        classes = rows - 4 - masks
    if classes is None or classes < 1:
        raise ModelError(f"cannot tell the class count of this segmentation model: {describe_io(runtime)}")
    if rows and rows < 4 + classes:
        raise ModelError(f"segmentation output has {rows} rows, fewer than 4 + {classes} classes")
    image = runtime.inputs[0]
    return UltralyticsSegmentBoxes(image.name, input_size(runtime, image), classes)
