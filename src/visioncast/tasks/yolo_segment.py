"""Ultralytics segmentation exports (YOLOv8/11-seg, Mind+'s): boxes, classes, scores and each object's mask.
No I/O; pinned by tests on ONNX graphs.

Layout: output0 [1, 4 + nc + M, N] (cx, cy, w, h, nc class scores, M mask coefficients) and output1
[1, M, H/4, W/4] (the mask prototypes). Decoding output0's first 4 + nc rows is the Ultralytics detector's
decoding; the coefficient rows must not be taken for classes, so ``nc`` comes from the metadata ``names``
(counted by the caller), else from the rows left after the prototypes' M. After NMS each object's mask is
decoded as Ultralytics 8.4 does (tasks/mask.py :func:`instance_mask`) and carried as outlines and pixel area;
bench/check_ultralytics_segment.py compares the masks with Ultralytics' own predict.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from visioncast.core.boxes import Letterbox, cxcywh_to_xyxy
from visioncast.core.types import Result
from visioncast.errors import ModelError
from visioncast.runtimes.base import Runtime
from visioncast.tasks.base import Prepared
from visioncast.tasks.detect import Candidates, Detector, finish_indexed
from visioncast.tasks.family import describe_io, input_size
from visioncast.tasks.mask import instance_mask, mask_polygons
from visioncast.tasks.yolo import UltralyticsDecoder


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
        """Candidates scoring at least ``conf``, each with its mask coefficients as ``extra``."""
        out = outputs[0][0]  # (4 + nc + M, N)
        scores = out[4 : 4 + self.classes]
        rows = np.flatnonzero(scores.max(axis=0) >= conf)
        kept = out[:, rows].T
        cid = kept[:, 4 : 4 + self.classes].argmax(axis=1)
        return Candidates(cxcywh_to_xyxy(kept[:, :4]), kept[np.arange(len(cid)), 4 + cid].astype(np.float32),
                          cid.astype(np.int64), extra=kept[:, 4 + self.classes :])


class UltralyticsSegmenter(Detector):
    """A segmentation export as a task: ``segmenter(image)`` → Result(task="segment"), each object with its
    box, class, score, mask outlines and mask area in original-image pixels; an object whose mask is empty is
    dropped, as Ultralytics' predict drops it."""

    task = "segment"

    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        box, opts = prepared.context, prepared.options
        cands = self.decoder.decode(outputs, box, opts.conf or 0.0)
        dets, picked = finish_indexed(cands, box, opts, self.labels)
        protos, coefs = outputs[1][0], cands.extra
        if coefs is None:
            raise ModelError(f"{self.name}: the decoder gave no mask coefficients")
        masks = [instance_mask(protos, coefs[i], cands.xyxy[i], box) for i in picked.tolist()]
        areas = np.array([int(m.sum()) for m in masks], np.int64)
        dets = replace(dets, polygons=tuple(mask_polygons(m) for m in masks), area=areas)
        return Result("segment", self.name, *prepared.image_wh, detections=dets.select(areas > 0))


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
