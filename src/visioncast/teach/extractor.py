"""The frozen feature extractor of taught models: a shipped classifier cut before its classifier layer. I/O:
reads the shipped model, writes the cut graph once into the model cache, runs it.

Images are made ready with the very preprocessing the registry gives the finished taught model
(:func:`~visioncast.models.registry.classify_spec_from` on the same input tensor), so the features seen in
training are the features seen in use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from visioncast.atomic import write_atomic
from visioncast.errors import ModelError
from visioncast.models.registry import classify_spec_from, find_model, people_detector
from visioncast.runtimes import open_runtime
from visioncast.tasks.classify import Classifier
from visioncast.tasks.people import PeopleFinder, biggest_square
from visioncast.teach.graph import cut_features, pose_features


@dataclass(frozen=True)
class ExtractorSpec:
    """A registry model and how its features are read: ``kind`` "image" — the tensor ``tensor`` (the pooled
    vector before the logits); "pose" — the keypoints of a MoveNet model, normalised for position and scale
    (:func:`~visioncast.teach.graph.pose_features`), of the biggest person's square (the whole image padded
    to a square when no one is found), as the taught model answers (tasks/people.py)."""

    model: str
    kind: str = "image"
    tensor: str = ""

    def graph(self) -> onnx.ModelProto:
        """The extractor's ONNX graph: the model cut (image) or extended (pose) to answer features."""
        model = onnx.load(str(find_model(self.model).path))
        if self.kind == "pose":
            graph = pose_features(model, POSE_SIZE)
            graph.metadata_props.append(onnx.StringStringEntryProto(key="visioncast_resize", value="pad"))
            return graph
        return cut_features(model, self.tensor)


POSE_SIZE = 192  # MoveNet Lightning's input
# Chosen by measuring (docs/benchmarks.md, "Teach"): MobileNet-V2's 1280 pooled features generalise from a
# few webcam samples; ResNet-56's 64 CIFAR features are tuned to 32×32 thumbnails.
EXTRACTORS = {
    "mobilenet-v2": ExtractorSpec("mobilenet-v2", "image", "MobilenetV2/Logits/AvgPool_prequant"),
    "movenet-lightning": ExtractorSpec("movenet-lightning", "pose"),
}
KINDS = {"image": "mobilenet-v2", "pose": "movenet-lightning"}  # a project's kind → its extractor
DEFAULT_EXTRACTOR = "mobilenet-v2"


class FeatureExtractor:
    """``features(image_bgr)`` → float32 (D,). ``graph`` is the ONNX extractor the taught model extends;
    ``kind``: "image" or "pose"."""

    def __init__(self, name: str = DEFAULT_EXTRACTOR, *, cache_dir: Path, threads: int | None = None) -> None:
        if name not in EXTRACTORS:
            raise ModelError(f"extractor must be one of {', '.join(EXTRACTORS)}, got {name!r}")
        self.name = name
        self.kind = EXTRACTORS[name].kind
        self.graph = EXTRACTORS[name].graph()
        path = cache_dir / "extractors" / f"{name}-features.onnx"
        _write_once(path, self.graph.SerializeToString())
        self.runtime = open_runtime(path, threads=threads)
        self._prepare = Classifier(self.runtime, classify_spec_from(self.runtime), (), name=name)
        self._input = self.runtime.inputs[0].name
        self._people = PeopleFinder(people_detector(threads=threads)) if self.kind == "pose" else None

    @property
    def size(self) -> int:
        """D, the length of one feature vector."""
        return int(np.prod([d for d in self.runtime.outputs[0].shape[1:] if isinstance(d, int)]))

    def features(self, image: np.ndarray) -> np.ndarray:
        """One BGR uint8 image → its (D,) float32 feature vector."""
        if self._people is not None:
            image = biggest_square(image, self._people.find(image), max(self._prepare.spec.size_wh))
        out = self.runtime.run({self._input: self._prepare.preprocess(image)})[0]
        return np.asarray(out, np.float32).reshape(-1)

    def close(self) -> None:
        self.runtime.close()
        if self._people is not None:
            self._people.detector.runtime.close()


def _write_once(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically unless the same bytes are there."""
    if not (path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data):
        write_atomic(path, data)
