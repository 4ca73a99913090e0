"""Result ⇄ JSON payload, the one wire format of every channel (HTTP, MQTT, JSON lines). Pure, no I/O.

The payload carries ``schema_version``; :data:`RESULT_SCHEMA` is its JSON Schema (draft 2020-12), published
by the server and checked by the tests. Scores are rounded to 4 decimals and boxes to 0.1 px for compact
messages.
"""

from __future__ import annotations

from typing import Any, TypedDict, cast

import numpy as np

from visioncast.core.types import TASKS, Classification, Detections, Result, Task
from visioncast.errors import InputError

SCHEMA_VERSION = 1


class DetectionPayload(TypedDict, total=False):
    box: list[float]
    class_id: int
    label: str
    score: float
    track_id: int
    keypoints: list[list[float]]
    polygons: list[list[list[float]]]
    area: int


class PredictionPayload(TypedDict):
    label: str
    class_id: int
    score: float


def result_to_payload(result: Result, **extra: Any) -> dict[str, Any]:
    """The JSON-ready dict of a Result; ``extra`` (source, frame, timestamp…) is merged in."""
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "task": result.task,
        "model": result.model,
        "width": result.width,
        "height": result.height,
    }
    if result.detections is not None:
        out["detections"] = detections_to_payload(result.detections)
    if result.classification is not None:
        out["predictions"] = predictions_to_payload(result.classification)
    out["timings_ms"] = {k: round(float(v), 3) for k, v in result.timings_ms.items()}
    out.update(extra)
    return out


def detections_to_payload(dets: Detections) -> list[DetectionPayload]:
    """One dict per detection: box [x1, y1, x2, y2] in pixels, class_id, label, score (+ track_id,
    keypoints; polygons and area for segmentation)."""
    items: list[DetectionPayload] = []
    for i in range(len(dets)):
        item: DetectionPayload = {
            "box": [round(float(v), 1) for v in dets.xyxy[i]],
            "class_id": int(dets.class_id[i]),
            "label": dets.labels[i],
            "score": round(float(dets.score[i]), 4),
        }
        if dets.track_id is not None and dets.track_id[i] >= 0:
            item["track_id"] = int(dets.track_id[i])
        if dets.keypoints is not None:
            item["keypoints"] = [[round(float(v), 2) for v in kp] for kp in dets.keypoints[i]]
        if dets.polygons is not None:
            item["polygons"] = [[[round(float(x), 1), round(float(y), 1)] for x, y in poly]
                                for poly in dets.polygons[i]]
        if dets.area is not None:
            item["area"] = int(dets.area[i])
        items.append(item)
    return items


def predictions_to_payload(cls: Classification) -> list[PredictionPayload]:
    return [
        {"label": cls.labels[i], "class_id": int(cls.class_id[i]), "score": round(float(cls.score[i]), 4)}
        for i in range(len(cls.class_id))
    ]


def result_from_payload(data: dict[str, Any]) -> Result:
    """Rebuild a Result from its payload (e.g. a server answer); raises InputError naming the bad field."""
    try:
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise InputError(f"schema_version must be {SCHEMA_VERSION}, got {version!r}")
        dets = _detections_from(data["detections"]) if "detections" in data else None
        cls = _classification_from(data["predictions"]) if "predictions" in data else None
        task = data.get("task") or ("detect" if dets is not None else "classify")
        if task not in TASKS:
            raise InputError(f"result.task must be one of {TASKS}, got {task!r}")
        return Result(cast(Task, task), str(data["model"]), int(data["width"]), int(data["height"]), dets,
                      cls, dict(data.get("timings_ms", {})))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"result payload is malformed: {type(exc).__name__}: {exc}") from exc


def _detections_from(items: list[dict[str, Any]]) -> Detections:
    tracked = any("track_id" in d for d in items)
    with_keypoints = bool(items) and all("keypoints" in d for d in items)
    with_masks = bool(items) and all("polygons" in d for d in items)
    return Detections(
        np.array([d["box"] for d in items], dtype=np.float32).reshape(-1, 4),
        np.array([d["class_id"] for d in items], dtype=np.int32),
        np.array([d["score"] for d in items], dtype=np.float32),
        tuple(str(d["label"]) for d in items),
        np.array([d.get("track_id", -1) for d in items]) if tracked else None,
        np.array([d["keypoints"] for d in items], dtype=np.float32) if with_keypoints else None,
        tuple(tuple(np.array(p, np.float32).reshape(-1, 2) for p in d["polygons"]) for d in items)
        if with_masks else None,
        np.array([d.get("area", 0) for d in items], dtype=np.int64) if with_masks else None,
    )


def _classification_from(items: list[dict[str, Any]]) -> Classification:
    return Classification(np.array([p["class_id"] for p in items], dtype=np.int32),
                          np.array([p["score"] for p in items], dtype=np.float32),
                          tuple(str(p["label"]) for p in items))


_BOX = {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}

RESULT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://visioncast.invalid/schemas/result.json",
    "title": "visioncast result",
    "description": "One inference result, as answered by the HTTP API and published on MQTT "
                   "`{prefix}/{source}/result`.",
    "type": "object",
    "required": ["schema_version", "task", "model", "width", "height", "timings_ms"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "task": {"enum": list(TASKS)},
        "model": {"type": "string"},
        "width": {"type": "integer", "minimum": 1},
        "height": {"type": "integer", "minimum": 1},
        "detections": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["box", "class_id", "label", "score"],
                "properties": {
                    "box": _BOX,
                    "class_id": {"type": "integer", "minimum": 0},
                    "label": {"type": "string"},
                    "score": {"type": "number", "minimum": 0, "maximum": 1},
                    "track_id": {"type": "integer", "minimum": 0},
                    "keypoints": {
                        "type": "array",
                        "description": "pose: 17 COCO keypoints (nose, eyes, ears, shoulders, elbows, "
                                       "wrists, hips, knees, ankles; left before right); face: 5 landmarks "
                                       "(right eye, left eye, nose tip, right and left mouth corner); each "
                                       "[x, y, score] in image pixels",
                        "items": {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3},
                    },
                    "polygons": {
                        "type": "array",
                        "description": "segment: the outlines of the detection's mask, each a list of [x, y] "
                                       "points in image pixels (a region may have several parts)",
                        "items": {"type": "array", "items": {"type": "array", "items": {"type": "number"},
                                                            "minItems": 2, "maxItems": 2}},
                    },
                    "area": {"type": "integer", "minimum": 0,
                             "description": "segment: the mask's area in image pixels"},
                },
                "additionalProperties": False,
            },
        },
        "predictions": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["label", "class_id", "score"],
                "properties": {
                    "label": {"type": "string"},
                    "class_id": {"type": "integer", "minimum": 0},
                    "score": {"type": "number", "minimum": 0, "maximum": 1},
                },
                "additionalProperties": False,
            },
        },
        "timings_ms": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
        "source": {"type": "string", "description": "the channel that produced the result (mqtt, pipelines)"},
        "frame": {"type": "integer", "minimum": 0, "description": "frame index in the source"},
        "timestamp": {"type": "number", "description": "media time in seconds (video) or Unix time"},
        "sent_at": {"type": "number", "description": "MQTT: Unix time (s) the server published it"},
        "image": {"type": "string", "description": "annotated image as base64 JPEG (render=base64)"},
        "image_url": {"type": "string", "description": "URL of the saved annotated image (render=url)"},
    },
    "allOf": [
        {"if": {"properties": {"task": {"enum": ["detect", "pose", "face", "segment"]}}},
         "then": {"required": ["detections"]}},
        {"if": {"properties": {"task": {"const": "classify"}}}, "then": {"required": ["predictions"]}},
    ],
}
