"""Map errors to HTTP answers: ``{"error": code, "message": …}`` under /api/, a styled page elsewhere.

InputError → 400 (UnsupportedMediaError 415, TooLargeError 413), NotFoundError → 404, ModelError → 503,
an error with an ``http_status`` attribute → that status (429 over a quota), anything else → 500 (logged with
its traceback). A page (not /api/) answers the error page with the navigation, in the request's language (a
mistyped URL gets the 404 page).

``code`` is stable: pages translate it with the catalogue key ``error.<code>`` (static/i18n/*.json), programs
may branch on it. ``message`` is for people reading logs and curl output (English, names the field).
The codes in use are listed in ``CODES`` (tests/unit/server/test_i18n.py checks each has its message in
both catalogues).
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from visioncast.errors import (
    InputError,
    ModelError,
    NotFoundError,
    TooLargeError,
    UnsupportedMediaError,
    VisioncastError,
)
from visioncast.server import i18n

log = logging.getLogger(__name__)
_STATUSES: tuple[tuple[type[VisioncastError], int], ...] = (
    (UnsupportedMediaError, 415), (TooLargeError, 413), (InputError, 400), (NotFoundError, 404),
    (ModelError, 503))

CODES = {
    # general codes of the error tree (visioncast.errors) and of HTTP itself
    "error": "an unexpected failure on the server (500)",
    "bad_config": "the server's configuration is wrong",
    "model_error": "a model cannot be loaded or run (503)",
    "bad_input": "a bad request value",
    "unsupported_media": "the body is not a supported media type (415)",
    "too_large": "the request body is over the server's limit (413)",
    "not_found": "no such page, route, job or file (404)",
    "source_error": "a source cannot be opened or was lost",
    "sink_error": "a sink cannot publish or write",
    "method_not_allowed": "the route does not take this method (405)",
    "bad_request": "the request is malformed (400)",
    # specific codes named at their raise site
    "no_image": "the request carries no image",
    "image_empty": "the image file is empty",
    "image_unsupported": "not a JPEG/PNG/BMP/WebP/TIFF/HEIC/AVIF image (415)",
    "image_corrupt": "the image is truncated or corrupt",
    "image_too_small": "the image is smaller than 2×2 pixels",
    "image_too_large": "the image has too many pixels (413)",
    "image_too_thin": "one side of the image is more than 50 times the other",
    "unknown_model": "no model of this name (404)",
    "no_video": "the request carries no video",
    "video_empty": "the video file is empty",
    "video_unsupported": "not an MP4/MOV/AVI/WebM/MKV video (415)",
    "video_corrupt": "a video container OpenCV cannot decode",
    "video_too_large": "the video is over videos.max_upload_mb (413)",
    "busy": "too many video jobs kept (503)",
    "not_ready": "the file asked for is not made yet (409)",
    "too_many_streams": "streams.max_streams pipelines already run",
    "stream_not_found": "no stream with this id (404)",
    "duplicate_in_progress": "the same Idempotency-Key is still being answered (409)",
    "uri_too_long": "the request line is over server.max_request_line_kb (414)",
    "header_too_large": "the request head is over server.max_header_kb (431)",
    "too_many_headers": "the request has more than server.max_headers header fields (431)",
    "too_slow": "the request did not arrive within server.read_timeout_s (408)",
    "server_busy": "too many requests from one address, or too many uploads at once (503)",
    "json_too_large": "a JSON body over server.max_json_kb (413)",
    "json_too_deep": "a JSON body nested deeper than server.max_json_depth (400)",
    "tensor_too_large": "KServe input tensors over server.max_tensor_mb or server.max_tensor_side",
    "too_many_viewers": "too many live views open (server.max_live, server.max_client_live) (429)",
    "teach_full": "the owner's teaching projects are over teach.max_client_mb (413)",
    "training_busy": "the project is being trained already (409)",
    "bad_zip": "the uploaded zip is unreadable or damaged",
    "source_not_yours": "a source name the caller may not publish under (403)",
    "source_not_allowed": "a stream source the teacher's streams.allow does not admit",
    "too_many_tries": "too many wrong tokens from one address (429)",
}


def status_of(exc: VisioncastError) -> int:
    status = getattr(exc, "http_status", None)  # an error that names its own status (429 over a quota)
    if isinstance(status, int):
        return status
    for kind, code in _STATUSES:
        if isinstance(exc, kind):
            return code
    return 500


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    """JSON under /api/ and /v2/ (KServe clients read "error"), the error page (with the navigation, in the
    page's language) elsewhere."""
    g.visioncast_error = code  # the access log names it (metrics._finish)
    if request.path.startswith(("/api/", "/v2/")) or request.path == "/api":
        return jsonify(error=code, message=message), status
    key = "error.page_not_found" if status == 404 else f"error.{code}"
    text = i18n.t(key) if key in i18n.catalogue(i18n.DEFAULT) else message
    body = render_template("error.html", status=status, code=code, text=text, detail=message)
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
                              f"request body is larger than the limit of {limit / 1024 / 1024:.3g} MB")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)
