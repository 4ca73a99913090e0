"""Map errors to HTTP answers: ``{"error": code, "message": …}`` under /api/, a short HTML page elsewhere.

InputError → 400 (UnsupportedMediaError 415, TooLargeError 413), NotFoundError → 404, ModelError → 503,
an error with an ``http_status`` attribute → that status (429 over a quota), anything else → 500 (logged
with its traceback).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from markupsafe import escape
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from visioncast.errors import (
    InputError,
    ModelError,
    NotFoundError,
    TooLargeError,
    UnsupportedMediaError,
    VisioncastError,
)

log = logging.getLogger(__name__)
_STATUSES: tuple[tuple[type[VisioncastError], int], ...] = (
    (UnsupportedMediaError, 415), (TooLargeError, 413), (InputError, 400), (NotFoundError, 404),
    (ModelError, 503))


def status_of(exc: VisioncastError) -> int:
    status = getattr(exc, "http_status", None)  # an error that names its own status (429 over a quota)
    if isinstance(status, int):
        return status
    for kind, code in _STATUSES:
        if isinstance(exc, kind):
            return code
    return 500


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    """JSON under /api/, HTML elsewhere."""
    if request.path.startswith("/api/"):
        return jsonify(error=code, message=message), status
    body = f"<!doctype html><title>{status}</title><h1>{status}</h1><p>{escape(message)}</p>"
    return Response(body, mimetype="text/html"), status


def register(app: Flask) -> None:
    @app.errorhandler(VisioncastError)
    def _visioncast(exc: VisioncastError) -> tuple[Response, int]:
        status = status_of(exc)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.path, exc, exc_info=exc)
        return error_response(status, exc.code, str(exc))

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> tuple[Response, int]:
        limit = app.config.get("MAX_CONTENT_LENGTH") or 0
        return error_response(413, "too_large",
                              f"request body is larger than the limit of {limit / 1024 / 1024:.0f} MB")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)
