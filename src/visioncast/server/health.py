"""Liveness and readiness: ``/healthz`` (the process answers) and ``/readyz`` (the default models are loaded).

I/O: :func:`warm_up` loads the default models (``visioncast serve`` calls it before listening, so the first
request does not pay the load and /readyz is true as soon as the port is open).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

from visioncast.server.access import access
from visioncast.server.app import services
from visioncast.server.openapi import Schema, document, response

EXTENSION = "visioncast.ready"

bp = Blueprint("health", __name__)

READY = Schema("Readiness", {
    "type": "object",
    "required": ["ready", "models"],
    "properties": {
        "ready": {"type": "boolean"},
        "models": {"type": "object",
                   "properties": {"detect": {"type": "string"}, "classify": {"type": "string"}}},
        "load_s": {"type": "number", "description": "seconds the default models took to load"},
    },
})


def warm_up(app: Flask) -> float:
    """Load the default detect and classify models; returns the seconds it took. Marks the app ready."""
    t0 = time.perf_counter()
    with app.app_context():
        svc = services()
        svc.detector()
        svc.classifier()
    elapsed = time.perf_counter() - t0
    app.extensions[EXTENSION] = elapsed
    return elapsed


@bp.get("/healthz")
@document("Liveness: the server answers", tags=["meta"],
          responses={200: response("alive", {"type": "object", "properties": {"status": {"const": "ok"}}})})
@access("open")
def healthz() -> Any:
    return jsonify(status="ok")


@bp.get("/readyz")
@document("Readiness: the default models are loaded", tags=["meta"],
          responses={200: response("ready", READY), 503: response("still loading", READY)})
@access("open")
def readyz() -> Any:
    cfg = services().config.models
    load_s = current_app.extensions.get(EXTENSION)
    body: dict[str, Any] = {"ready": load_s is not None,
                            "models": {"detect": cfg.detect, "classify": cfg.classify}}
    if load_s is not None:
        body["load_s"] = round(load_s, 3)
    return jsonify(body), 200 if load_s is not None else 503


def register(app: Flask) -> None:
    app.register_blueprint(bp)
