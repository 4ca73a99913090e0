"""The JSON API under /api/v1: detect, classify, models. I/O: request bodies, the results folder.

``POST /api/v1/detect`` and ``POST /api/v1/classify`` take an image (see :mod:`visioncast.server.upload`)
and answer ``result_to_payload(result)`` — the one wire format of every channel — plus ``image`` (base64 JPEG)
or ``image_url`` (a ``url_for`` link into the results folder) when ``render`` asks for it. Every result is
handed to ``services.publish(result, source=...)`` so MQTT and other sinks see what the API answered.

:func:`register` wires this module and the service routes it needs (results folder, health, metrics,
OpenAPI) into the app: it is the one line in ``server/app.py``.
"""

from __future__ import annotations

import base64
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from flask import Blueprint, Flask, current_app, g, jsonify, request, url_for

from visioncast.core.payload import RESULT_SCHEMA, result_to_payload
from visioncast.core.types import Frame, Result
from visioncast.draw import draw_result
from visioncast.errors import InputError, NotFoundError, VisioncastError
from visioncast.models.registry import list_models
from visioncast.server import health, metrics, openapi, results
from visioncast.server.app import services
from visioncast.server.openapi import ERROR, Schema, document, error, query, response
from visioncast.server.query import detect_options, render_mode, source_name, top_k
from visioncast.server.upload import read_upload

bp = Blueprint("api", __name__, url_prefix="/api/v1")
RESULT = Schema("Result", {k: v for k, v in RESULT_SCHEMA.items() if k not in ("$schema", "$id")})
JPEG_QUALITY = 85

_IMAGE_BODY = {
    "required": True,
    "description": "the image: a multipart file field 'image', a raw image body, or JSON with base64",
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["image"],
                                           "properties": {"image": {"type": "string", "format": "binary"}}}},
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {"schema": {"type": "object", "required": ["image"], "properties": {"image": {
            "type": "string", "description": "base64 of the encoded image, or a data:image/…;base64, URL"}}}},
    },
}
_COMMON = [
    query("model", {"type": "string"}, "model name (GET /api/v1/models); default: the server's"),
    query("render", {"enum": ["base64", "url"]}, "also answer the annotated image: base64 JPEG in 'image', "
          "or saved on the server with its URL in 'image_url'"),
    query("source", {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$", "default": "api"},
          "the channel name results are published under (MQTT topic part), e.g. webcam"),
]
_ERRORS = {400: error("bad query value, corrupt image or no image"), 404: error("unknown model"),
           413: error("body over server.max_body_mb or image over server.max_pixels"),
           415: error("not an image"), 503: error("the model cannot be loaded")}


def summarize(result: Result) -> str:
    """A short human summary: "bus 0.91, person×3" (detections) or "cat 0.87" (top class)."""
    if result.classification is not None:
        cls = result.classification
        return f"{cls.top_label} {float(cls.score[0]):.2f}" if len(cls.labels) else "no class"
    dets = result.detections
    if dets is None or len(dets) == 0:
        return "nothing detected"
    counts = Counter(dets.labels)
    best: dict[str, float] = {}
    for label, score in zip(dets.labels, dets.score.tolist(), strict=True):
        best[label] = max(score, best.get(label, 0.0))
    return ", ".join(f"{label}×{n}" if n > 1 else f"{label} {best[label]:.2f}" for label, n in counts.items())


def _model_name(task: str) -> str | None:
    """The ``model`` query value, checked against the registry (never an arbitrary server path)."""
    name = request.args.get("model", "").strip()
    cfg = services().config.models
    if not name or name == (cfg.detect if task == "detect" else cfg.classify):
        return name or None
    known = {info.name: info.task for info in list_models(Path(cfg.cache_dir))}
    if name not in known:
        raise NotFoundError(f"unknown model {name!r}: expected one of {', '.join(sorted(known))}")
    if known[name] != task:
        fits = ", ".join(n for n, t in known.items() if t == task)
        raise InputError(f"model {name!r} is a {known[name]} model; /{task} needs one of {fits}")
    return name


def _encode_jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise VisioncastError(f"cannot encode the annotated {image.shape[1]}×{image.shape[0]} image as JPEG")
    return buf.tobytes()


def _answer(result: Result, image: np.ndarray, *, source: str, render: str | None) -> Any:
    """Publish, count and answer ``result`` (+ the rendered image when asked)."""
    services().publish(result, source=source, frame=Frame(image, 0, 0.0, source))
    metrics.metrics_of(current_app).observe_result(result)
    if metrics.access_log.isEnabledFor(logging.INFO):  # the summary only ends the access log line
        g.visioncast_summary = summarize(result)
    extra: dict[str, Any] = {}
    if render is not None:
        jpeg = _encode_jpeg(draw_result(image, result))
        if render == "base64":
            extra["image"] = base64.b64encode(jpeg).decode("ascii")
        else:
            name = results.results_of(current_app).save(jpeg)
            extra["image_url"] = url_for("results.result_file", name=name)
    return jsonify(result_to_payload(result, **extra))


@bp.post("/detect")
@document("Detect objects in an image", tags=["inference"], request_body=_IMAGE_BODY, parameters=[
    query("conf", {"type": "number", "minimum": 0, "maximum": 1}, "minimum confidence (default: server's)"),
    query("iou", {"type": "number", "minimum": 0, "maximum": 1}, "NMS IoU threshold (default: server's)"),
    query("classes", {"type": "string"}, "keep only these classes: ids or names, comma-separated"),
    query("max_det", {"type": "integer", "minimum": 1}, "maximum number of detections"),
    *_COMMON,
], responses={200: response("the detections", RESULT), **_ERRORS})
def detect() -> Any:
    args = request.args
    render, source = render_mode(args), source_name(args)
    detector = services().detector(_model_name("detect"))
    options = detect_options(args, detector.options, detector.labels, detector.name)
    image = read_upload(request, max_pixels=services().config.server.max_pixels)
    return _answer(detector.detect(image, options), image, source=source, render=render)


@bp.post("/classify")
@document("Classify an image", tags=["inference"], request_body=_IMAGE_BODY, parameters=[
    query("top", {"type": "integer", "minimum": 1, "default": 5}, "how many classes to answer, best first"),
    *_COMMON,
], responses={200: response("the top classes", RESULT), **_ERRORS})
def classify() -> Any:
    args = request.args
    render, source, top = render_mode(args), source_name(args), top_k(args)
    classifier = services().classifier(_model_name("classify"))
    image = read_upload(request, max_pixels=services().config.server.max_pixels)
    return _answer(classifier.classify(image, top=top), image, source=source, render=render)


MODELS = Schema("Models", {
    "type": "object",
    "required": ["models", "defaults"],
    "properties": {
        "defaults": {"type": "object",
                     "properties": {"detect": {"type": "string"}, "classify": {"type": "string"}}},
        "models": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "task": {"enum": ["detect", "classify", ""]},
            "licence": {"type": "string"}, "origin": {"enum": ["shipped", "pulled", "taught", "local"]}}}},
    },
})


@bp.get("/models")
@document("The models this server can run", tags=["inference"],
          responses={200: response("the models", MODELS)})
def models() -> Any:
    cfg = services().config.models
    items = [{"name": i.name, "task": i.task, "licence": i.licence, "origin": i.origin}
             for i in list_models(Path(cfg.cache_dir))]
    return jsonify(models=items, defaults={"detect": cfg.detect, "classify": cfg.classify})


def register(app: Flask) -> None:
    """The API and the service routes around it: metrics, health, results folder, OpenAPI document."""
    metrics.register(app)
    app.register_blueprint(bp)
    results.register(app)
    health.register(app)
    openapi.register(app)


__all__ = ["ERROR", "RESULT", "bp", "register", "summarize"]
