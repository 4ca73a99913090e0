"""Object detection task: a family decoder around a runtime, with thresholds, class filter and max detections.

No I/O. The Decoder protocol keeps the family-specific maths (input and output layouts) apart from the task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from visioncast.core.boxes import Letterbox, batched_nms
from visioncast.core.types import Detections, Result
from visioncast.runtimes.base import Runtime
from visioncast.tasks.base import Prepared, TaskBase, TaskOptions

DEFAULT_OPTIONS = TaskOptions(conf=0.25, iou=0.45, max_det=300)


@dataclass(frozen=True)
class Candidates:
    """Raw decoder output in model-input pixels: boxes xyxy (N, 4), scores (N,), class ids (N,); ``extra``:
    optional per-candidate rows a task needs after NMS (a segmentation export's mask coefficients, (N, M))."""

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray
    nms_done: bool = False
    extra: np.ndarray | None = None


class Decoder(Protocol):
    """Family-specific pre- and post-processing for one detector model."""

    family: str
    input_size: tuple[int, int]

    def prepare(self, image: np.ndarray) -> tuple[dict[str, np.ndarray], Letterbox]:
        """BGR image → (runtime feeds, geometry of the resize)."""
        ...

    def decode(self, outputs: list[np.ndarray], box: Letterbox, conf: float) -> Candidates:
        """Runtime outputs → candidates scoring at least ``conf``."""
        ...


def finish(cands: Candidates, box: Letterbox, opts: TaskOptions, labels: Sequence[str]) -> Detections:
    """Class filter, NMS (unless the model did it), max detections, back to original pixels; ``opts`` are
    resolved (a field left None takes the detector default)."""
    return finish_indexed(cands, box, opts, labels)[0]


def finish_indexed(cands: Candidates, box: Letterbox, opts: TaskOptions, labels: Sequence[str]
                   ) -> tuple[Detections, np.ndarray]:
    """:func:`finish`, and which candidate each detection is (indices into ``cands``)."""
    opts = opts.over(DEFAULT_OPTIONS)
    conf, iou, max_det = opts.conf or 0.0, opts.iou or 0.0, opts.max_det
    keep = cands.score >= conf
    if opts.classes is not None:
        keep &= np.isin(cands.class_id, np.asarray(opts.classes, dtype=np.int64))
    kept = np.flatnonzero(keep)
    xyxy, score, cid = cands.xyxy[kept], cands.score[kept], cands.class_id[kept]
    order = (np.argsort(-score, kind="stable") if cands.nms_done
             else batched_nms(xyxy, score, cid, iou))[:max_det]
    xyxy = box.to_original(xyxy[order]) if not cands.nms_done else xyxy[order]
    cid = cid[order].astype(np.int32)
    names = tuple(labels[c] if 0 <= c < len(labels) else f"class{c}" for c in cid)
    return Detections(xyxy, cid, np.clip(score[order], 0, 1), names), kept[order]


class Detector(TaskBase):
    """A detector model as a :class:`~visioncast.tasks.base.Task`: ``detector(image)`` → a detect Result.

    ``prepare`` letterboxes for the model and carries the resolved options to ``postprocess``, which
    decodes, filters, runs NMS and maps boxes back to the image's pixels.
    """

    task = "detect"

    def __init__(self, runtime: Runtime, decoder: Decoder, labels: Sequence[str], *,
                 name: str = "detector", options: TaskOptions | None = None) -> None:
        self.runtime = runtime
        self.decoder = decoder
        self.labels = tuple(labels)
        self.name = name
        self.options = options.over(DEFAULT_OPTIONS) if options else DEFAULT_OPTIONS

    @property
    def family(self) -> str:
        return self.decoder.family

    def prepare(self, image: np.ndarray, options: TaskOptions | None = None) -> Prepared:
        """BGR uint8 H×W×3 image → the model's feeds; context = the letterbox geometry."""
        feeds, box = self.decoder.prepare(image)
        return Prepared(feeds, (image.shape[1], image.shape[0]), box, self.resolve(options))

    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        """Outputs → Result with boxes in the image's pixels (class filter, NMS, max detections applied)."""
        box, opts = prepared.context, prepared.options
        dets = finish(self.decoder.decode(outputs, box, opts.conf or 0.0), box, opts, self.labels)
        return Result("detect", self.name, *prepared.image_wh, detections=dets)
