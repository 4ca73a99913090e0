"""The image of an HTTP request, in any of the three accepted forms. I/O: reads the request body.

1. multipart/form-data with a file field ``image`` (an HTML form, ``curl -F image=@bus.jpg``);
2. JSON ``{"image": "<base64>"}`` or ``{"image": "data:image/jpeg;base64,…"}`` (the browser's compressed
   canvas upload);
3. anything else: the raw body is the image (``curl --data-binary @bus.jpg``, even with curl's default
   form content type).

The bytes are then decoded by :func:`visioncast.sources.image.decode_image`, the same path as
``visioncast detect``, so both give the same pixels and therefore the same detections. The body size limit is
Flask's ``MAX_CONTENT_LENGTH``: 413 before the body is read when it has a Content-Length, and
after reading up to the limit when it is chunked.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np
from flask import Request

from visioncast.errors import InputError, TooLargeError, UnsupportedMediaError
from visioncast.server.json_limits import allow_json_bytes
from visioncast.sources.image import decode_image

FIELD = "image"
HOW = "send a multipart file field 'image', a raw image body, or JSON {\"image\": \"<base64 or data: URL>\"}"


def _check_streamed_size(req: Request) -> None:
    """A chunked body (no Content-Length) is cut at the limit by werkzeug rather than refused: refuse it."""
    limit = req.max_content_length
    if req.content_length is None and limit is not None and len(req.get_data(cache=True)) >= limit:
        raise TooLargeError(f"request body is larger than the limit of {limit / 1024 / 1024:.3g} MB "
                            f"(chunked upload)")


def upload_bytes(req: Request) -> tuple[bytes, str]:
    """(encoded image bytes, a name for messages) from ``req``."""
    _check_streamed_size(req)
    if req.mimetype == "multipart/form-data":
        file = req.files.get(FIELD)
        if file is None:
            got = sorted({*req.files, *req.form}) or "none"
            raise InputError(f"multipart form has no file field 'image' (fields: {got}); {HOW}",
                             code="no_image")
        return file.read(), f"uploaded file {file.filename or FIELD!r}"
    if req.is_json:
        allow_json_bytes(req.max_content_length or 0)  # base64 of an image: a long string, not a deep tree
        return image_from_json(req.get_json(silent=True)), "JSON field 'image'"
    data = req.get_data()
    if not data:
        raise InputError(f"the request has no image (empty body); {HOW}", code="no_image")
    return data, "request body"


def json_kind(value: Any) -> str:
    """What a JSON value is, in words: 'a number', 'an object', 'null'…"""
    kinds = {bool: "true/false", int: "a number", float: "a number", str: "a string", list: "a list",
             dict: "an object"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def image_from_json(body: Any) -> bytes:
    """The bytes of ``{"image": base64 | data URL}``; InputError naming what came instead."""
    if not isinstance(body, dict):
        raise InputError(f"JSON body must be an object like {{\"image\": \"<base64>\"}}, "
                         f"got {type(body).__name__ if body is not None else 'invalid JSON'}")
    text = body.get(FIELD)
    if not isinstance(text, str):
        got = f"keys {sorted(body)}" if FIELD not in body else json_kind(text)
        raise InputError(f"JSON body must have a string 'image' (base64 or data: URL), got {got}")
    if text.startswith("data:"):
        header, sep, text = text.partition(",")
        mime = header[5:].split(";")[0].strip().lower()
        if not sep or ";base64" not in header.lower():
            raise InputError(f"data URL must be 'data:image/<type>;base64,<data>', got {header[:60]!r}")
        if not mime.startswith("image/"):
            raise UnsupportedMediaError(f"data URL must hold an image/* type, got {mime or 'no type'!r}")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"JSON field 'image' is not valid base64 ({len(text)} characters): {exc}") from exc


def read_upload(req: Request, *, max_pixels: int) -> np.ndarray:
    """The request's image decoded to BGR uint8 H×W×3 (InputError 400 / 413 / 415 on bad input)."""
    data, name = upload_bytes(req)
    return decode_image(data, name=name, max_pixels=max_pixels)
