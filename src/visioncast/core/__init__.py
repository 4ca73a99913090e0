"""Pure core of visioncast: result types, box maths, statistics and the JSON payload. Imports numpy only."""

from __future__ import annotations

from visioncast.core.types import Classification, Detections, Frame, Result

__all__ = ["Classification", "Detections", "Frame", "Result"]
