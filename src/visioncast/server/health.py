"""Liveness and readiness: ``/healthz`` (the process answers) and ``/readyz`` (the default models are loaded,
and every readiness check passes).

I/O: :func:`warm_up` loads the default models (``visioncast serve`` calls it before listening, so the first
request does not pay the load and /readyz is true as soon as the port is open). What ``serve`` starts
besides registers a check with :func:`add_check` (the MQTT broker's: ``push``), read at every /readyz: while
one fails, /readyz answers 503 and names it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

from visioncast.server.auth.access import access
from visioncast.server.openapi import Schema, document, response
from visioncast.server.services import services

EXTENSION = "visioncast.ready"
CHECKS = "visioncast.ready_checks"
Check = Callable[[], tuple[bool, str]]  # → (ready, what it found, in English for logs and monitors)

bp = Blueprint("health", __name__)

READY = Schema("Readiness", {
    "type": "object",
    "required": ["ready", "models"],
    "properties": {
        "ready": {"type": "boolean"},
        "models": {"type": "object",
                   "properties": {"detect": {"type": "string"}, "classify": {"type": "string"}}},
        "load_s": {"type": "number", "description": "seconds the default models took to load"},
        "checks": {"type": "object",
                   "description": "the other readiness checks by name (push: the MQTT broker serve runs)",
                   "additionalProperties": {"type": "object", "properties": {
                       "ready": {"type": "boolean"}, "detail": {"type": "string"}}}},
    },
})


def add_check(app: Flask, name: str, check: Check) -> None:
    """Make /readyz depend on ``check()`` as well (called at every /readyz; it must be quick)."""
    app.extensions.setdefault(CHECKS, {})[name] = check


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
@document("Readiness: the default models are loaded and the MQTT broker runs", tags=["meta"],
          responses={200: response("ready", READY),
                     503: response("still loading, or a check fails (the broker is down)", READY)})
@access("open")
def readyz() -> Any:
    cfg = services().config.models
    load_s = current_app.extensions.get(EXTENSION)
    checks = {name: dict(zip(("ready", "detail"), check(), strict=True))
              for name, check in current_app.extensions.get(CHECKS, {}).items()}
    ready = load_s is not None and all(c["ready"] for c in checks.values())
    body: dict[str, Any] = {"ready": ready, "models": {"detect": cfg.detect, "classify": cfg.classify},
                            "checks": checks}
    if load_s is not None:
        body["load_s"] = round(load_s, 3)
    return jsonify(body), 200 if ready else 503


def register(app: Flask) -> None:
    app.register_blueprint(bp)
