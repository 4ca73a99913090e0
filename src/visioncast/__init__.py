"""visioncast: deploy vision models and deliver their results (HTTP API, pages, MQTT push, edge pipelines)."""

from __future__ import annotations

from visioncast.core.types import Classification, Detections, Frame, Result
from visioncast.errors import (
    ConfigError,
    InputError,
    ModelError,
    NotFoundError,
    SinkError,
    SourceError,
    VisioncastError,
)

__version__ = "0.1.0"

__all__ = [
    "Classification",
    "ConfigError",
    "Detections",
    "Frame",
    "InputError",
    "ModelError",
    "NotFoundError",
    "Result",
    "SinkError",
    "SourceError",
    "VisioncastError",
    "__version__",
]
