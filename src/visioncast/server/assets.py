"""The pages' files: content-hashed URLs, compressed answers, long caching. I/O: reads static/, once a file.

* ``url_for("static", filename="app.js")`` gives ``/static/app.js?v=<hash>``: the first 12 hex digits of the
  SHA-256 of what is served. Inside the files, the relative imports of scripts (``from "./i18n.js"``) and the
  ``url(…)`` of stylesheets carry the same ``?v=`` (so a script's hash covers the scripts it imports, and a
  module is never loaded twice under two URLs). An answer to the current ``?v=`` is cached for a year
  (``immutable``); without it, or with an old one, the browser revalidates (``no-cache`` + ETag → 304).
* Generated files (the pages' message bundles, :mod:`visioncast.server.i18n`) are served the same way from
  :meth:`AssetStore.add`.
* Compression: HTML, CSS, JavaScript, JSON and SVG answers of 512 bytes or more are sent with Brotli when the
  request's ``Accept-Encoding`` offers it (Chromium does), else gzip, else as they are
  (``Vary: Accept-Encoding``). Static files are compressed once and kept; pages and JSON answers on the fly.
  Streams (MJPEG, server-sent events, file downloads) are never touched.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import mimetypes
import posixpath
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import brotli
from flask import Flask, Response, current_app, request
from werkzeug.security import safe_join

from visioncast.errors import NotFoundError
from visioncast.server.auth.access import access

log = logging.getLogger(__name__)
EXTENSION = "visioncast.assets"
HASH_LENGTH = 12
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
MIN_COMPRESS_BYTES = 512
COMPRESSIBLE = frozenset({"text/html", "text/css", "text/javascript", "application/javascript",
                          "application/json", "image/svg+xml", "text/plain"})
# import … from "./x.js" / export … from "./x.js" / import "./x.js": relative module specifiers
_IMPORT = re.compile(r"""(\b(?:from|import)\s*)(["'])(\.{1,2}/[^"'?#]+)\2""")
_CSS_URL = re.compile(r"""url\(\s*(["']?)([^"')?#]+)\1\s*\)""")


@dataclass
class Asset:
    """One file as served: its bytes, type, version (content hash) and compressed forms (made when asked)."""

    body: bytes
    mimetype: str
    version: str
    encoded: dict[str, bytes] = field(default_factory=dict)

    def encoding(self, name: str) -> bytes:
        """The body compressed with ``name`` ("br" or "gzip"), made once."""
        if name not in self.encoded:
            self.encoded[name] = compress(self.body, name, static=True)
        return self.encoded[name]


def compress(body: bytes, name: str, *, static: bool = False) -> bytes:
    """``body`` in Brotli ("br") or gzip; files kept for every request get the slower, denser settings."""
    if name == "br":
        return bytes(brotli.compress(body, quality=11 if static else 5))
    return gzip.compress(body, compresslevel=9 if static else 6, mtime=0)


def version_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:HASH_LENGTH]


class AssetStore:
    """The files of one static folder and the generated ones, each read, rewritten and hashed once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.RLock()
        self._assets: dict[str, Asset] = {}
        self._generated: dict[str, Callable[[], bytes]] = {}
        self._reading: set[str] = set()  # an import cycle (or a comment naming the file itself) stops here

    def add(self, name: str, make: Callable[[], bytes]) -> None:
        """Serve ``make()`` (called once, on first use) as the file ``name``."""
        self._generated[name] = make

    def get(self, name: str) -> Asset | None:
        """The asset ``name`` (a path under static/), or None when there is no such file."""
        with self._lock:
            if name not in self._assets:
                if name in self._reading:
                    return None
                self._reading.add(name)
                try:
                    body = self._read(name)
                finally:
                    self._reading.discard(name)
                if body is None:
                    return None
                self._assets[name] = Asset(body, _mimetype(name), version_of(body))
            return self._assets[name]

    def version(self, name: str) -> str | None:
        asset = self.get(name)
        return asset.version if asset else None

    def _read(self, name: str) -> bytes | None:
        if name in self._generated:
            return self._generated[name]()
        path = safe_join(str(self.folder), name)
        if path is None or not Path(path).is_file():
            return None
        body = Path(path).read_bytes()
        if name.endswith(".js"):
            return self._versioned(name, body, _IMPORT, 3)
        if name.endswith(".css"):
            return self._versioned(name, body, _CSS_URL, 2)
        return body

    def _versioned(self, name: str, body: bytes, pattern: re.Pattern[str], group: int) -> bytes:
        """``body`` with every relative reference matched by ``pattern`` given its ``?v=``."""
        folder = posixpath.dirname(name)

        def add_version(match: re.Match[str]) -> str:
            target = match.group(group)
            if target.startswith(("data:", "http:", "https:", "/")):
                return match.group(0)
            version = self.version(posixpath.normpath(posixpath.join(folder, target)))
            if version is None:
                return match.group(0)  # not a file (or a file importing itself): left as it is
            start, end = match.span(group)
            whole = match.group(0)
            offset = match.start(0)
            return f"{whole[: start - offset]}{target}?v={version}{whole[end - offset:]}"

        return pattern.sub(add_version, body.decode("utf-8")).encode("utf-8")


def _mimetype(name: str) -> str:
    if name.endswith(".js"):
        return "text/javascript"
    if name.endswith(".woff2"):
        return "font/woff2"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def store() -> AssetStore:
    """The AssetStore of the running app."""
    return current_app.extensions[EXTENSION]


def chosen_encoding() -> str | None:
    """The compression the request accepts: "br", else "gzip", else None."""
    accepted = request.accept_encodings
    for name in ("br", "gzip"):
        if accepted.quality(name) > 0:
            return name
    return None


@access("open")
def send_asset(filename: str) -> Response:
    """A static file: immutable when asked by its current version, revalidated otherwise; compressed."""
    asset = store().get(filename)
    if asset is None:
        raise NotFoundError(f"no static file {filename!r}")
    encoding = chosen_encoding() if asset.mimetype in COMPRESSIBLE else None
    resp = Response(asset.encoding(encoding) if encoding else asset.body, mimetype=asset.mimetype)
    resp.set_etag(f"{asset.version}-{encoding}" if encoding else asset.version)  # one tag per representation
    if encoding:
        resp.headers["Content-Encoding"] = encoding
    if asset.mimetype in COMPRESSIBLE:
        resp.vary.add("Accept-Encoding")
    current = request.args.get("v") == asset.version
    resp.headers["Cache-Control"] = IMMUTABLE if current else REVALIDATE
    resp.make_conditional(request)
    return resp


def compress_answer(resp: Response) -> Response:
    """After every request: compress a page or JSON answer the browser accepts compressed."""
    if (resp.status_code < 200 or resp.status_code in (204, 206, 304) or resp.direct_passthrough
            or resp.is_streamed or "Content-Encoding" in resp.headers or resp.mimetype not in COMPRESSIBLE
            or request.method == "HEAD"):
        return resp
    body = resp.get_data()
    resp.vary.add("Accept-Encoding")
    encoding = chosen_encoding()
    if encoding is None or len(body) < MIN_COMPRESS_BYTES:
        return resp
    resp.set_data(compress(body, encoding))
    resp.headers["Content-Encoding"] = encoding
    etag, weak = resp.get_etag()
    if etag:  # another representation, another tag
        resp.set_etag(f"{etag}-{encoding}", weak=bool(weak))
    return resp


def _add_version(endpoint: str, values: dict[str, Any]) -> None:
    if endpoint == "static" and "filename" in values and "v" not in values:
        version = store().version(values["filename"])
        if version is not None:
            values["v"] = version


def register(app: Flask) -> None:
    """Serve static/ through the AssetStore; versions in ``url_for("static", …)``; compress answers."""
    folder = resources.files("visioncast.server") / "static"
    app.extensions[EXTENSION] = AssetStore(Path(str(folder)))
    app.view_functions["static"] = send_asset
    app.url_defaults(_add_version)
    app.after_request(compress_answer)
