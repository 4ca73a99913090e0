"""Classification exports of Ultralytics (YOLOv8/11-cls, as Mind+ trains them), preprocessed exactly as
Ultralytics predicts. No I/O (Pillow only resizes).

Ultralytics' ``ClassificationPredictor`` turns the BGR image into an RGB PIL image and applies
``classify_transforms(imgsz)``: torchvision ``Resize(imgsz)`` (the shorter side to ``imgsz``, the longer one
to ``int(imgsz · long / short)``, PIL bilinear, which antialiases when shrinking), ``CenterCrop(imgsz)``
(offsets ``round((side − imgsz) / 2)``), ``ToTensor`` (/255) and a mean 0 / std 1 normalisation. The export
ends in a softmax, so the output already is the probabilities. Names and ``imgsz`` come from the ONNX
metadata.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from visioncast.runtimes.base import Runtime
from visioncast.tasks.classify import Classifier, ClassifySpec
from visioncast.tasks.family import input_size


def is_ultralytics_classify(runtime: Runtime) -> bool:
    """An Ultralytics export whose metadata says ``task: classify``."""
    meta = runtime.metadata
    text = " ".join(meta.get(k, "") for k in ("author", "description", "license")).lower()
    return meta.get("task") == "classify" and "ultralytics" in text


def resize_shorter_center_crop(image_bgr: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """torchvision ``Resize(min side) + CenterCrop(size)`` on a PIL RGB image: RGB uint8 (h, w, 3)."""
    tw, th = size_wh
    h, w = image_bgr.shape[:2]
    short = min(tw, th)
    if w <= h:
        new_w, new_h = short, int(short * h / w)
    else:
        new_w, new_h = int(short * w / h), short
    pil = Image.fromarray(np.ascontiguousarray(image_bgr[:, :, ::-1]))
    if (new_w, new_h) != (w, h):
        pil = pil.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = round((new_w - tw) / 2.0), round((new_h - th) / 2.0)
    return np.asarray(pil.crop((left, top, left + tw, top + th)))


class UltralyticsClassifier(Classifier):
    """A Classifier whose preprocessing is Ultralytics' (see the module docstring); the rest is shared."""

    family = "ultralytics-classify"

    def __init__(self, runtime: Runtime, labels: tuple[str, ...], *, name: str = "classifier",
                 top: int = 5) -> None:
        size = input_size(runtime, runtime.inputs[0], default=224)
        spec = ClassifySpec(size, rgb=True, mean=None, std=None)
        super().__init__(runtime, spec, labels, name=name, top=top)

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """BGR image → float32 [1, 3, h, w] RGB /255 after resize-shorter-side and centre crop."""
        rgb = resize_shorter_center_crop(image, self.spec.size_wh)
        return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255)
