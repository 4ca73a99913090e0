"""Object detection task: a family decoder around a runtime, with thresholds, class filter and max detections.

No I/O. The Decoder protocol keeps the family-specific maths (input and output layouts) apart from the task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from visioncast.core.boxes import Letterbox, batched_nms
from visioncast.core.types import Detections, Result
from visioncast.errors import InputError
from visioncast.runtimes.base import Runtime
from visioncast.tasks.base import Prepared, run_stages


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
    """A detector model as a :class:`~visioncast.tasks.base.Task`: ``detector(image)`` → a detect Result.

    ``prepare(image, options)`` letterboxes for the model and carries the thresholds (default ``options``)
    to ``postprocess``, which decodes, filters, runs NMS and maps boxes back to the image's pixels.
    """

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

    def prepare(self, image: np.ndarray, options: DetectOptions | None = None) -> Prepared:
        """BGR uint8 H×W×3 image → the model's feeds; context = (letterbox geometry, options)."""
        feeds, box = self.decoder.prepare(image)
        return Prepared(feeds, (image.shape[1], image.shape[0]), (box, options or self.options))

    def infer(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.runtime.run(feeds)

    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        """Outputs → Result with boxes in the image's pixels (class filter, NMS, max detections applied)."""
        box, opts = prepared.context
        dets = finish(self.decoder.decode(outputs, box, opts.conf), box, opts, self.labels)
        return Result("detect", self.name, *prepared.image_wh, detections=dets)

    def detect(self, image: np.ndarray, options: DetectOptions | None = None) -> Result:
        """The three stages on one image with per-call ``options`` (default: the detector's)."""
        return run_stages(self, image, lambda img: self.prepare(img, options))

    def __call__(self, image: np.ndarray) -> Result:
        return run_stages(self, image)
