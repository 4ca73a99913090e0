"""Bounded JSON: every JSON body the app parses is checked for size and nesting first. I/O: none.

Python's parser recurses once per level (100,000 ``[`` was a RecursionError, a 500, on every JSON route)
and turns a few bytes of numbers into tens of bytes of objects. So a body is parsed only when it is at most
``server.max_json_kb`` (a route that takes more, an image as base64, raises it for its request with
:func:`allow_json_bytes`) and nested at most ``server.max_json_depth`` deep; otherwise 413 / 400 with a
message naming the limit, also for routes that parse with ``silent=True``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g, has_request_context
from flask.json.provider import DefaultJSONProvider

from visioncast.core.jsontext import check_json
from visioncast.errors import InputError


def allow_json_bytes(max_bytes: int) -> None:
    """Let the current request's JSON body be up to ``max_bytes`` (a route that takes an image as JSON)."""
    g.visioncast_json_bytes = max_bytes


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with :func:`check_json` before every parse of a request body."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        cfg = self._app.extensions["visioncast"].config.server
        limit = int(cfg.max_json_kb * 1024)
        if has_request_context():
            limit = max(limit, int(g.get("visioncast_json_bytes", 0)))
        raw = check_json(s, max_bytes=limit, max_depth=cfg.max_json_depth)
        try:
            return super().loads(raw, **kwargs)
        except RecursionError as exc:  # unbalanced text deeper than Python's own limit
            raise InputError("the JSON body nests too deep to read", code="json_too_deep") from exc


def register(app: Flask) -> None:
    app.json = BoundedJSONProvider(app)
