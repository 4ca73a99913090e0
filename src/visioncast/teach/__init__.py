"""Teaching a classifier from a few samples per class: a frozen shipped feature extractor plus a linear head
trained with numpy, saved as one ONNX model of the registry. See docs/teach.md."""

from __future__ import annotations

from visioncast.teach.extractor import DEFAULT_EXTRACTOR, EXTRACTORS, KINDS, FeatureExtractor
from visioncast.teach.train import TrainReport, save_taught, teach

__all__ = ["DEFAULT_EXTRACTOR", "EXTRACTORS", "KINDS", "FeatureExtractor", "TrainReport", "save_taught",
           "teach"]
