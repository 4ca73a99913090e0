"""Tasks: preprocess → runtime.run → postprocess, turning a BGR image into a Result. No I/O of their own."""

from __future__ import annotations

from visioncast.tasks.base import Task, TaskOptions, run_stages
from visioncast.tasks.classify import Classifier, ClassifySpec
from visioncast.tasks.detect import Detector
from visioncast.tasks.family import FAMILIES, detect_family, make_decoder

__all__ = [
    "FAMILIES",
    "Classifier",
    "ClassifySpec",
    "Detector",
    "Task",
    "TaskOptions",
    "detect_family",
    "make_decoder",
    "run_stages",
]
