"""Object detection task: a family decoder around a runtime, with thresholds, class filter and max detections.

No I/O. The Decoder protocol keeps the family-specific maths (input and output layouts) apart from the task.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from visioncast.core.boxes import Letterbox, batched_nms
from visioncast.core.types import Detections, Result
from visioncast.errors import InputError
from visioncast.runtimes.base import Runtime


@dataclass(frozen=True)
class DetectOptions:
    """conf: minimum score; iou: NMS overlap threshold; max_det: cap on boxes; classes: only these ids."""

    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 300
    classes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.conf <= 1.0:
            raise InputError(f"conf must be between 0 and 1, got {self.conf}")
        if not 0.0 <= self.iou <= 1.0:
            raise InputError(f"iou must be between 0 and 1, got {self.iou}")
        if self.max_det < 1:
            raise InputError(f"max_det must be at least 1, got {self.max_det}")

    def merged(self, **changes: object) -> DetectOptions:
        """A copy with the non-None ``changes`` applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Candidates:
    """Raw decoder output in model-input pixels: boxes xyxy (N, 4), scores (N,), class ids (N,)."""

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray
    nms_done: bool = False


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


def finish(cands: Candidates, box: Letterbox, opts: DetectOptions, labels: Sequence[str]) -> Detections:
    """Class filter, NMS (unless the model did it), max detections, back to original pixels."""
    keep = cands.score >= opts.conf
    if opts.classes is not None:
        keep &= np.isin(cands.class_id, np.asarray(opts.classes, dtype=np.int64))
    xyxy, score, cid = cands.xyxy[keep], cands.score[keep], cands.class_id[keep]
    order = (np.argsort(-score, kind="stable") if cands.nms_done
             else batched_nms(xyxy, score, cid, opts.iou))[: opts.max_det]
    xyxy = box.to_original(xyxy[order]) if not cands.nms_done else xyxy[order]
    cid = cid[order].astype(np.int32)
    names = tuple(labels[c] if 0 <= c < len(labels) else f"class{c}" for c in cid)
    return Detections(xyxy, cid, np.clip(score[order], 0, 1), names)


class Detector:
    """Runs a detector model: ``detect(image_bgr)`` → Result(task="detect")."""

    task = "detect"

    def __init__(self, runtime: Runtime, decoder: Decoder, labels: Sequence[str], *,
                 name: str = "detector", options: DetectOptions | None = None) -> None:
        self.runtime = runtime
        self.decoder = decoder
        self.labels = tuple(labels)
        self.name = name
        self.options = options or DetectOptions()

    @property
    def family(self) -> str:
        return self.decoder.family

    def detect(self, image: np.ndarray, options: DetectOptions | None = None) -> Result:
        """Detect objects in a BGR uint8 H×W×3 image; boxes in its pixels."""
        opts = options or self.options
        t0 = time.perf_counter()
        feeds, box = self.decoder.prepare(image)
        t1 = time.perf_counter()
        outputs = self.runtime.run(feeds)
        t2 = time.perf_counter()
        dets = finish(self.decoder.decode(outputs, box, opts.conf), box, opts, self.labels)
        t3 = time.perf_counter()
        timings = {"preprocess": (t1 - t0) * 1e3, "inference": (t2 - t1) * 1e3,
                   "postprocess": (t3 - t2) * 1e3}
        return Result("detect", self.name, image.shape[1], image.shape[0], detections=dets,
                      timings_ms=timings)

    __call__ = detect
