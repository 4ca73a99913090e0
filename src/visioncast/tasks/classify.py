"""Image classification task: resize, normalise, softmax, top-k. No I/O.

The preprocessing comes from a :class:`ClassifySpec` (input size, channel order, mean/std, layout), filled by
the model registry from the model's config or metadata, so any classifier ONNX of these layouts works:
float NCHW with mean/std (CIFAR ResNets) and uint8 NHWC with probabilities as 0–255 (quantised MobileNets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from visioncast.core.types import Classification, Result
from visioncast.runtimes.base import Runtime
from visioncast.tasks.base import Prepared, TaskBase, TaskOptions

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ClassifySpec:
    """size_wh: model input (w, h); rgb: channel order; mean/std: per channel, applied to x/255 (None = raw
    0–255); nhwc: input layout; dtype: input tensor type (uint8 inputs skip normalisation); pad_square: the
    image is first padded (black, right and bottom) to a square, keeping its proportions (a pose model's
    skeleton), instead of being stretched to the input."""

    size_wh: tuple[int, int]
    rgb: bool = True
    mean: tuple[float, float, float] | None = IMAGENET_MEAN
    std: tuple[float, float, float] | None = IMAGENET_STD
    nhwc: bool = False
    dtype: str = "float32"
    pad_square: bool = False


def pad_to_square(image: np.ndarray) -> np.ndarray:
    """``image`` in the top-left corner of a black square as large as its longer side."""
    h, w = image.shape[:2]
    if h == w:
        return image
    side = max(h, w)
    out = np.zeros((side, side, image.shape[2]), image.dtype)
    out[:h, :w] = image
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def to_probabilities(raw: np.ndarray) -> np.ndarray:
    """Model output → probabilities: uint8 → /255; already a distribution → as is; else softmax."""
    if raw.dtype == np.uint8:
        return raw.astype(np.float32) / 255.0
    raw = raw.astype(np.float32)
    if raw.min() >= 0 and abs(float(raw.sum()) - 1.0) < 1e-3:
        return raw
    return softmax(raw)


class Classifier(TaskBase):
    """A classifier model as a :class:`~visioncast.tasks.base.Task`: ``classifier(image)`` →
    Result(task="classify") with the ``top`` classes (``TaskOptions.top`` per call)."""

    task = "classify"

    def __init__(self, runtime: Runtime, spec: ClassifySpec, labels: Sequence[str], *,
                 name: str = "classifier", top: int = 5) -> None:
        self.runtime = runtime
        self.spec = spec
        self.labels = tuple(labels)
        self.name = name
        self.options = TaskOptions(top=top)
        self._input = runtime.inputs[0].name
        self._mean = np.array(spec.mean or (0, 0, 0), np.float32) * 255
        self._inv_std = 1 / (np.array(spec.std or (1, 1, 1), np.float32) * 255)

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """BGR image → the model's input tensor (batch of one)."""
        if self.spec.pad_square:
            image = pad_to_square(image)
        h, w = image.shape[:2]
        tw, th = self.spec.size_wh
        interp = cv2.INTER_AREA if (w > tw or h > th) else cv2.INTER_LINEAR
        img = cv2.resize(image, (tw, th), interpolation=interp) if (w, h) != (tw, th) else image
        if self.spec.rgb:
            img = img[:, :, ::-1]
        if self.spec.dtype == "uint8":
            x = np.ascontiguousarray(img)
        else:
            x = (img.astype(np.float32) - self._mean) * self._inv_std
        x = x[None] if self.spec.nhwc else x.transpose(2, 0, 1)[None]
        return np.ascontiguousarray(x)

    def prepare(self, image: np.ndarray, options: TaskOptions | None = None) -> Prepared:
        """BGR uint8 H×W×3 image → the model's feeds; the options say how many classes to keep."""
        return Prepared({self._input: self.preprocess(image)}, (image.shape[1], image.shape[0]),
                        options=self.resolve(options))

    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        """Outputs → Result with the top-k classes, best first."""
        probs = to_probabilities(outputs[0].reshape(-1))
        ids = np.argsort(-probs, kind="stable")[: min(prepared.options.top or 1, len(probs))]
        names = tuple(self.labels[i] if i < len(self.labels) else f"class{i}" for i in ids)
        cls = Classification(ids, probs[ids], names)
        return Result("classify", self.name, *prepared.image_wh, classification=cls)
