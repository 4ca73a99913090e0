"""Semantic segmentation: one class per pixel (MediaPipe's selfie segmentation, shipped: person or
background). No I/O.

The image is resized (stretched) to the model's input, RGB scaled to [0, 1]; the output is either one
probability plane (the foreground class, ``labels[1]``; background below ``conf``) or one score plane per
class (each pixel takes its best class). The class map is taken at the image's own size (the score planes
are upsampled bilinearly first), so every region's outline and area are in image pixels. Each class present
other than the background (a class named "background", and a one-plane model's class 0) is one detection:
its mask's box, outlines (tasks/mask.py), pixel area and mean score over the mask; ``counts`` is then 1 per
class present and ``areas`` the pixels per class.
"""

from __future__ import annotations

import cv2
import numpy as np

from visioncast.core.types import Detections, Result
from visioncast.errors import ModelError
from visioncast.runtimes.base import Runtime
from visioncast.tasks.base import Prepared, TaskBase, TaskOptions
from visioncast.tasks.family import describe_io
from visioncast.tasks.mask import mask_box, mask_polygons

DEFAULT_OPTIONS = TaskOptions(conf=0.5)
MIN_AREA = 0.001  # a class covering less than this fraction of the image is not reported (stray pixels)
BACKGROUND = ("background", "__background__", "_background_", "bg")  # class names that are not regions


class SemanticSegmenter(TaskBase):
    """A per-pixel classifier: ``segmenter(image)`` → Result(task="segment"), one detection per class
    present (background excepted) with its outlines and area. ``conf``: the foreground threshold of a
    one-plane model; ``classes``: report only these class ids."""

    task = "segment"
    family = "semantic"

    def __init__(self, runtime: Runtime, labels: tuple[str, ...], *, name: str = "segmenter",
                 options: TaskOptions | None = None) -> None:
        if len(runtime.inputs) != 1 or len(runtime.outputs) != 1:
            raise ModelError(f"a segmentation model has one input and one output, got {describe_io(runtime)}")
        spec, out = runtime.inputs[0], runtime.outputs[0]
        self.nhwc = spec.shape[-1] == 3
        dims = spec.shape[1:3] if self.nhwc else spec.shape[2:4]
        if len(spec.shape) != 4 or not all(isinstance(d, int) for d in dims):
            raise ModelError(f"a segmentation model needs a fixed-size image input, got "
                             f"{describe_io(runtime)}")
        self.size_hw = (int(dims[0]), int(dims[1]))  # type: ignore[arg-type]
        self.out_nhwc = len(out.shape) == 4 and out.shape[1] not in (1, len(labels))
        self.runtime, self.labels, self.name = runtime, tuple(labels), name
        self._input = spec.name
        self.background = {i for i, label in enumerate(self.labels) if label.lower() in BACKGROUND}
        if out.shape[-1 if self.out_nhwc else 1] == 1:
            self.background.add(0)  # one probability plane: class 0 is what is below the threshold
        self.options = options.over(DEFAULT_OPTIONS) if options else DEFAULT_OPTIONS

    def prepare(self, image: np.ndarray, options: TaskOptions | None = None) -> Prepared:
        h, w = self.size_hw
        rgb = cv2.cvtColor(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        tensor = rgb.astype(np.float32) * (1 / 255)
        tensor = tensor[None] if self.nhwc else tensor.transpose(2, 0, 1)[None]
        return Prepared({self._input: np.ascontiguousarray(tensor)}, (image.shape[1], image.shape[0]), None,
                        self.resolve(options))

    def postprocess(self, outputs: list[np.ndarray], prepared: Prepared) -> Result:
        w, h = prepared.image_wh
        opts = prepared.options
        planes = outputs[0][0] if self.out_nhwc else outputs[0][0].transpose(1, 2, 0)  # H×W×C
        class_map, score = self.class_map(np.ascontiguousarray(planes, np.float32), (w, h), opts.conf or 0.5)
        pixels = np.bincount(class_map.ravel(), minlength=len(self.labels))
        found = [c for c in np.flatnonzero(pixels >= max(1, MIN_AREA * w * h)).tolist()
                 if c not in self.background and (opts.classes is None or c in opts.classes)]
        boxes, scores, polygons = [], [], []
        for c in found:
            mask = class_map == c
            boxes.append(mask_box(mask))
            scores.append(float(score[mask].mean()))
            polygons.append(mask_polygons(mask))
        names = tuple(self.labels[c] if c < len(self.labels) else f"class{c}" for c in found)
        dets = Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(found, np.int32),
                          np.clip(np.array(scores, np.float32), 0, 1), names, polygons=tuple(polygons),
                          area=pixels[found].astype(np.int64))
        return Result("segment", self.name, w, h, detections=dets)

    @staticmethod
    def class_map(planes: np.ndarray, size_wh: tuple[int, int], conf: float) -> tuple[np.ndarray, np.ndarray]:
        """Score planes (H×W×C) → (class id per image pixel as uint8, the score of the class taken), at
        ``size_wh`` (the planes upsampled bilinearly)."""
        big = cv2.resize(planes, size_wh, interpolation=cv2.INTER_LINEAR)
        if planes.shape[2] == 1:
            prob = big if big.ndim == 2 else big[..., 0]
            return (prob >= conf).view(np.uint8), prob
        if big.max() > 1 or big.min() < 0:  # logits → probabilities
            big = np.exp(big - big.max(axis=2, keepdims=True))
            big /= big.sum(axis=2, keepdims=True)
        return big.argmax(axis=2).astype(np.uint8), big.max(axis=2)
