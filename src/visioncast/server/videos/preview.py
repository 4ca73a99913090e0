"""Live preview of a video job the browser cannot play: each detected frame drawn by the server, as a JPEG;
and the annotated video as WebM, beside the AVI. I/O: decodes the job's uploaded file, sends job files.

``GET /api/v1/videos/<id>/frames/<n>.jpg`` answers frame ``n`` of the upload with the boxes of its result
drawn by :func:`visioncast.draw.draw_result` (the same drawing and class colours as the saved AVI), as soon as
that frame is detected: 409 ``not_ready`` before, so the page shows the frames as they are made while a WebM
copy is still being encoded. Frames are asked for in order, so each job keeps one :class:`FrameReader` that
decodes forward (reopening the file only to go back); at most ``MAX_READERS`` jobs keep one (least recently
used).

``POST /api/v1/videos/<id>/render-webm`` + ``GET …/video.webm``: the annotated video as WebM (VP8), made by
the job manager exactly as the AVI (:meth:`JobManager.render_webm`), for browsers and phones, which play no
MJPG AVI.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from flask import Blueprint, Flask, Response, current_app, jsonify, send_file

from visioncast.core.payload import result_from_payload
from visioncast.core.types import Frame
from visioncast.draw import draw_result
from visioncast.errors import NotFoundError
from visioncast.jpeg import encode_jpeg
from visioncast.server import i18n
from visioncast.server.auth.access import access
from visioncast.server.errors import error_response
from visioncast.server.openapi import document, error, response
from visioncast.server.videos.routes import RENDER, manager, owned_job
from visioncast.sources.video import VideoFileSource, open_video

EXTENSION = "visioncast.preview"
MAX_READERS = 4
MAX_WIDTH = 960  # a preview, not the saved video: smaller JPEGs keep up with detection on a phone's Wi-Fi
JPEG_QUALITY = 80

bp = Blueprint("preview", __name__)


class FrameReader:
    """Frame ``n`` of a video file, decoding forward from the last frame read. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._source: VideoFileSource | None = None
        self._frames: Iterator[Frame] | None = None
        self._next = 0

    def read(self, index: int) -> np.ndarray | None:
        """The image of frame ``index`` (None past the end or for a frame that cannot be decoded)."""
        with self._lock:
            frames = self._frames
            if frames is None or index < self._next:
                frames = self._reopen()
            for frame in frames:
                self._next = frame.index + 1
                if frame.index == index:
                    return frame.image
                if frame.index > index:  # a damaged frame skipped by the source
                    return None
            return None

    def _reopen(self) -> Iterator[Frame]:
        self.close()
        self._source = open_video(self.path)
        self._frames = iter(self._source)
        self._next = 0
        return self._frames

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
        self._source, self._frames = None, None


class FrameReaders:
    """One FrameReader per recently previewed job, the least recently used closed beyond MAX_READERS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers: OrderedDict[str, FrameReader] = OrderedDict()

    def get(self, job_id: str, path: Path) -> FrameReader:
        with self._lock:
            reader = self._readers.pop(job_id, None) or FrameReader(path)
            self._readers[job_id] = reader
            while len(self._readers) > MAX_READERS:
                self._readers.popitem(last=False)[1].close()
            return reader

    def close(self) -> None:
        with self._lock:
            for reader in self._readers.values():
                reader.close()
            self._readers.clear()


def _result_of(job: Any, index: int) -> dict[str, Any] | None:
    items, _ = job.wait(index, 0)
    return next((item for item in items[:1] if item["frame"] == index), None) if items else None


def _encode(image: np.ndarray) -> bytes:
    return encode_jpeg(image, JPEG_QUALITY, max_width=MAX_WIDTH)


@bp.get("/api/v1/videos/<job_id>/frames/<int:index>.jpg")
@document("A detected frame of a video job drawn by the server (the live preview of a video the browser "
          "cannot play)", tags=["video"], responses={
              200: response("the frame with its boxes", {"type": "string", "format": "binary"},
                            media_type="image/jpeg"),
              404: error("no such job, or no such frame"), 409: error("this frame is not detected yet")})
@access("student")
def frame(job_id: str, index: int) -> Response | tuple[Response, int]:
    job = owned_job(job_id)
    job.touch()
    result = _result_of(job, index)
    if result is None:
        total = job.frames_total
        if job.state in ("done", "failed", "cancelled") or (total is not None and index >= total):
            raise NotFoundError(f"video job {job.id} has no frame {index}")
        return error_response(409, "not_ready", f"frame {index} of video job {job.id} is not detected yet")
    image = current_app.extensions[EXTENSION].get(job.id, job.source_path).read(index)
    if image is None:
        raise NotFoundError(f"frame {index} of video job {job.id} cannot be decoded")
    if "error" not in result:
        image = draw_result(image, result_from_payload(result), lang=i18n.current())
    return Response(_encode(image), mimetype="image/jpeg", headers={"Cache-Control": "private, max-age=600"})


@bp.post("/api/v1/videos/<job_id>/render-webm")
@document("Start (or report) the render of the annotated video as WebM (VP8: plays in browsers and on "
          "phones), beside the AVI", tags=["video"], responses={
              202: response("the render status; poll until state is done", RENDER.ref),
              404: error("no job with this id"), 409: error("not every frame is detected yet")})
@access("student")
def render_webm(job_id: str) -> Any:
    job = owned_job(job_id)
    job.touch()
    if job.state != "done":
        return error_response(409, "not_ready", f"video job {job.id} is {job.state}; it can be saved once "
                                                "every frame is detected")
    return jsonify(manager().render_webm(job)), 202


@bp.get("/api/v1/videos/<job_id>/video.webm")
@document("Download the annotated video as WebM (boxes drawn)", tags=["video"], responses={
    200: response("the WebM", {"type": "string", "format": "binary"}, media_type="video/webm"),
    404: error("no job with this id"), 409: error("not rendered yet: POST .../render-webm first")})
@access("student")
def video_webm(job_id: str) -> Any:
    job = owned_job(job_id)
    job.touch()
    if job.render_webm.state != "done":
        return error_response(409, "not_ready", f"the annotated WebM of job {job.id} is not made yet "
                                                f"({job.render_webm.state}); POST render-webm first")
    name = f"{Path(job.name).stem or 'video'}-detected.webm"
    return send_file(job.render_webm.path, mimetype="video/webm", conditional=True, max_age=0,
                     as_attachment=True, download_name=name)


def register(app: Flask) -> None:
    """The preview route and its frame readers (closed with the services)."""
    readers = FrameReaders()
    app.extensions[EXTENSION] = readers
    app.extensions["visioncast"].on_close.append(readers.close)
    app.register_blueprint(bp)
