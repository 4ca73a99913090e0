"""The results folder: annotated images saved by ``render=url`` and the one route serving them. I/O: files.

Everything the server saves goes into one folder (config ``server.results_dir``), pruned on every write to
stay under ``server.results_max_mb`` and ``server.results_max_age_s``. ``GET /results/<name>`` (the seed's
"show the server image at this path") serves only regular files inside that folder: a name with a backslash,
a NUL byte or a percent sign left after URL decoding (double encoding) is refused with 400; ``..``,
absolute paths, symlinks and anything resolving outside the folder answer 404.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, current_app, send_file
from werkzeug.security import safe_join

from visioncast.atomic import write_atomic
from visioncast.config import ServerConfig
from visioncast.errors import InputError, NotFoundError
from visioncast.server.auth.access import access
from visioncast.server.metrics import metrics_of
from visioncast.server.openapi import document, response

log = logging.getLogger(__name__)
EXTENSION = "visioncast.results"
SUFFIXES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
_REFUSED_CHARS = ("\\", "\x00", "%")

bp = Blueprint("results", __name__)


class ResultsFolder:
    """A bounded folder of saved images. Thread-safe."""

    def __init__(self, root: str | Path, *, max_bytes: int, max_age_s: float) -> None:
        self.root = Path(root).expanduser()
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.pruned = 0
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: ServerConfig) -> ResultsFolder:
        return cls(cfg.results_dir, max_bytes=int(cfg.results_max_mb * 1024 * 1024),
                   max_age_s=cfg.results_max_age_s)

    def save(self, data: bytes, suffix: str = ".jpg") -> str:
        """Write ``data`` under a fresh unguessable name, prune, and return the name."""
        name = f"{time.time_ns() // 1_000_000}-{secrets.token_hex(6)}{suffix}"
        with self._lock:
            write_atomic(self.root / name, data)
            self._prune(keep=name)
        return name

    def _prune(self, keep: str) -> None:
        """Drop files older than max_age_s, then the oldest until the folder fits max_bytes."""
        now = time.time()
        files = []
        for entry in os.scandir(self.root):
            if entry.is_file(follow_symlinks=False) and Path(entry.name).suffix in SUFFIXES:
                st = entry.stat(follow_symlinks=False)
                files.append((st.st_mtime, st.st_size, entry.name))
        files.sort()
        total = sum(size for _, size, _ in files)
        for mtime, size, name in files:
            if name == keep or (now - mtime <= self.max_age_s and total <= self.max_bytes):
                continue
            (self.root / name).unlink(missing_ok=True)
            total -= size
            self.pruned += 1
            log.debug("pruned result %s (%d bytes, %.0f s old)", name, size, now - mtime)

    def resolve(self, name: str) -> Path:
        """The file ``name`` inside the folder; InputError for refused characters, NotFoundError otherwise."""
        bad = next((c for c in _REFUSED_CHARS if c in name), None)
        if bad is not None:
            raise InputError(f"result name must be a plain file name such as 1700000000000-ab12cd.jpg, "
                             f"got one containing {bad!r}")
        missing = NotFoundError(f"no result named {name!r} in the results folder")
        joined = safe_join(str(self.root), name)
        if joined is None or Path(name).suffix.lower() not in SUFFIXES:
            raise missing
        path = Path(joined)
        root = self.root.resolve()
        real = path.resolve()
        if path.is_symlink() or not real.is_relative_to(root) or real == root or not real.is_file():
            raise missing
        return real


def results_of(app: Flask) -> ResultsFolder:
    """The app's results folder (made from ``server`` config on first use)."""
    folder = app.extensions.get(EXTENSION)
    if folder is None:
        folder = app.extensions[EXTENSION] = ResultsFolder.from_config(
            app.extensions["visioncast"].config.server)
    return folder


@bp.get("/results/<path:name>", merge_slashes=False)  # no 308 redirect for //etc/passwd
@document("A saved annotated image (render=url)", tags=["results"],
          description="Serves only files inside the results folder; traversal attempts answer 400 or 404.",
          responses={200: response("the image", {"type": "string", "format": "binary"},
                                   media_type="image/jpeg"),
                     400: response("the name has a backslash, NUL or percent sign", media_type="text/html"),
                     404: response("no such result", media_type="text/html")})
@access("student")
def result_file(name: str) -> Any:
    path = results_of(current_app).resolve(name)
    return send_file(path, mimetype=SUFFIXES[path.suffix.lower()], max_age=3600, conditional=True)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    folder = results_of(app)
    metrics_of(app).add_callback("visioncast_results_pruned", "saved results deleted by the size/age limit",
                                 lambda: folder.pruned, kind="counter")
