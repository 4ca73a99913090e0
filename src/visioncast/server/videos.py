"""Video jobs over HTTP, and the video and webcam pages. I/O: request bodies, job folders, streaming answers.

``POST /api/v1/videos`` (multipart field ``video``) saves the upload into a job folder, checks it is a video
OpenCV decodes, and starts a job (:mod:`visioncast.server.jobs`); the page then follows it:
``GET /api/v1/videos/<id>`` (status), ``/results`` (every frame's result so far), ``/events`` (the live
results stream), ``/source`` (the uploaded file for a ``<video>`` element, with HTTP range requests),
``POST /render`` + ``GET /video.avi`` (the annotated AVI), ``POST /playable`` + ``GET /playable.webm`` (a
WebM copy of the source, for a browser that cannot play the upload: Chromium plays no AVI and no MPEG-4
Part 2), ``DELETE`` (cancel and forget).

Why Server-Sent Events rather than a WebSocket for the live results: the flow is one-way (server → page); SSE
is plain HTTP (works through the same cheroot server, proxies and TLS, no upgrade, no extra library); and
``EventSource`` reconnects by itself, sending ``Last-Event-ID`` — each result's event id is its frame index —
so a reloaded or briefly disconnected page re-attaches and resumes after the last frame it has.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request, send_file
from werkzeug.exceptions import RequestEntityTooLarge

from visioncast.errors import InputError, SourceError, TooLargeError, UnsupportedMediaError
from visioncast.server.app import services
from visioncast.server.errors import error_response
from visioncast.server.jobs import Derived, JobManager, VideoJob
from visioncast.server.metrics import metrics_of
from visioncast.server.openapi import Schema, document, error, query, response
from visioncast.server.pages import add_nav_link
from visioncast.server.query import detect_options, source_name
from visioncast.sources.video import VideoFileSource, open_video

log = logging.getLogger(__name__)
EXTENSION = "visioncast.videos"
FIELD = "video"
HEARTBEAT_S = 1.0
SNIFF_BYTES = 64
FORMATS = "MP4, MOV, AVI, WebM or MKV"
KINDS = {"mp4": "an MP4/MOV", "avi": "an AVI", "matroska": "a WebM/MKV"}

bp = Blueprint("videos", __name__)

JOB = Schema("VideoJob", {
    "type": "object",
    "required": ["id", "state", "frames_done", "frames_total", "fps", "width", "height", "detect_fps"],
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string", "description": "the uploaded file name"},
        "state": {"enum": ["queued", "running", "done", "failed", "cancelled"]},
        "frames_done": {"type": "integer", "description": "frames detected so far"},
        "frames_total": {"type": ["integer", "null"], "description": "frames announced by the container "
                         "(exact once done; null when the container does not say)"},
        "frames_failed": {"type": "integer"},
        "fps": {"type": "number", "description": "the video's frame rate"},
        "width": {"type": "integer"}, "height": {"type": "integer"},
        "detect_fps": {"type": "number", "description": "frames detected per second of running time"},
        "source": {"type": "string", "description": "the MQTT source name results are published under"},
        "error": {"type": "string"}, "created": {"type": "number", "description": "Unix time of the upload"},
        "watchers": {"type": "integer", "description": "open results streams"},
        "render": {"$ref": "#/components/schemas/VideoFile"},
        "playable": {"$ref": "#/components/schemas/VideoFile"},
    },
})
RENDER = Schema("VideoFile", {
    "type": "object", "required": ["state", "frames_done", "progress"],
    "description": "a file made from the job in the background (the annotated AVI, the playable WebM copy)",
    "properties": {"state": {"enum": ["idle", "queued", "running", "done", "failed"]},
                   "frames_done": {"type": "integer"},
                   "progress": {"type": "number", "minimum": 0, "maximum": 1},
                   "error": {"type": "string"}},
})
FRAME_RESULT = {"type": "object", "description": "result_to_payload (see Result) plus frame and timestamp "
                "(seconds), or {frame, timestamp, error} for a frame that failed",
                "required": ["frame", "timestamp"],
                "properties": {"frame": {"type": "integer"}, "timestamp": {"type": "number"}}}
RESULTS = Schema("VideoResults", {"type": "object", "required": ["id", "state", "results"], "properties": {
    "id": {"type": "string"}, "state": {"type": "string"},
    "results": {"type": "array", "items": FRAME_RESULT}}})
_NOT_FOUND = {404: error("no job with this id (never existed, deleted or expired)")}


def manager() -> JobManager:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return,unused-ignore]


def sniff_container(head: bytes) -> str | None:
    """The container a file's first bytes name: 'mp4' (also MOV), 'avi', 'matroska' (also WebM) or None."""
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    return None


def _save_upload(folder: Path, limit_mb: float) -> tuple[Path, str]:
    """Stream the multipart field ``video`` into ``folder``; (path, original name). 413 over ``limit_mb``."""
    request.max_content_length = int(limit_mb * 1024 * 1024)
    try:
        file = request.files.get(FIELD)
    except RequestEntityTooLarge as exc:
        raise TooLargeError(f"video is larger than the limit of {limit_mb:g} MB (videos.max_upload_mb)") \
            from exc
    if file is None:
        got = sorted({*request.files, *request.form}) or "none"
        raise InputError(f"send the video as a multipart file field 'video' (fields received: {got})")
    name = Path(file.filename or "video").name
    path = folder / f"source{Path(name).suffix.lower()[:8] or '.bin'}"
    file.save(path)
    return path, name


def _open_checked(path: Path, name: str) -> VideoFileSource:
    """Open the saved upload: 415 when it is not a video container, 400 when OpenCV cannot decode a frame."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise InputError(f"'{name}' is empty (0 bytes)")
    kind = sniff_container(head)
    if kind is None:
        raise UnsupportedMediaError(f"'{name}' is not a video: expected {FORMATS}, got a file starting with "
                                    f"{head[:8]!r}")
    try:
        return open_video(path)
    except SourceError as exc:
        raise InputError(f"'{name}' looks like {KINDS[kind]} video but cannot be decoded (truncated, damaged "
                         f"or without video frames): {str(exc).replace(path.name, name)}") from exc


@bp.post("/api/v1/videos")
@document("Upload a video and start detecting every frame", tags=["video"], request_body={
    "required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["video"],
        "properties": {"video": {"type": "string", "format": "binary",
                                 "description": f"the video: {FORMATS} (as far as OpenCV decodes it)"}}}}},
}, parameters=[
    query("conf", {"type": "number", "minimum": 0, "maximum": 1}, "minimum confidence (default: server's)"),
    query("iou", {"type": "number", "minimum": 0, "maximum": 1}, "NMS IoU threshold (default: server's)"),
    query("classes", {"type": "string"}, "keep only these classes: ids or names, comma-separated"),
    query("source", {"type": "string", "pattern": "^[^\\s/+#]{1,64}$", "default": "video"},
          "the channel name its results are published under (MQTT topic part), e.g. 操场"),
], responses={201: response("the job, queued", JOB),
              400: error("no 'video' field, truncated or frameless video"),
              413: error("video over videos.max_upload_mb"), 415: error("not a video"),
              503: error("too many jobs kept (videos.max_jobs)")})
def upload() -> Any:
    jobs, cfg = manager(), services().config.videos
    if jobs.full():
        return error_response(503, "busy", f"the server already keeps {cfg.max_jobs} video jobs "
                                           "(videos.max_jobs); delete one or wait for one to expire")
    detector = services().detector()
    options = detect_options(request.args, detector.options, detector.labels, detector.name)
    channel = source_name(request.args, "video")  # a stable name for boards, never the upload's id
    job_id, folder = jobs.new_folder()
    try:
        path, name = _save_upload(folder, cfg.max_upload_mb)
        with _open_checked(path, name) as video:
            job = VideoJob(job_id, folder, path, video, name, channel=channel)
    except BaseException:
        jobs.discard_folder(folder)
        raise
    jobs.start(job, lambda image: detector.detect(image, options))
    log.info("video job %s: %s, %s frames at %.2f fps, %d×%d", job.id, name, job.frames_total, job.fps,
             job.width, job.height)
    return jsonify(job.snapshot()), 201


def _job(job_id: str) -> VideoJob:
    job = manager().get(job_id)
    job.touch()
    return job


@bp.get("/api/v1/videos/<job_id>")
@document("A video job's status", tags=["video"], responses={200: response("the job", JOB), **_NOT_FOUND})
def status(job_id: str) -> Any:
    return jsonify(_job(job_id).snapshot())


@bp.delete("/api/v1/videos/<job_id>")
@document("Cancel a video job and delete it with its files", tags=["video"],
          responses={200: response("the job as it was when deleted", JOB), **_NOT_FOUND})
def delete(job_id: str) -> Any:
    return jsonify(manager().delete(_job(job_id)))


@bp.get("/api/v1/videos/<job_id>/results")
@document("Every frame's result so far", tags=["video"],
          responses={200: response("the results, in frame order", RESULTS), **_NOT_FOUND})
def results(job_id: str) -> Any:
    job = _job(job_id)
    items, _ = job.wait(0, 0)
    return jsonify(id=job.id, state=job.state, results=items)


def _event(kind: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def stream_events(job: VideoJob, after_frame: int) -> Iterator[str]:
    """SSE text of ``job``: ``state`` events, one ``result`` event per frame (id = frame index), then ``end``.

    Holds a watcher on the job while the client is connected (a closed connection ends the generator at the
    next heartbeat write), so an open page keeps its job alive and a closed one lets it be cancelled.
    """
    job.watch(+1)
    try:
        yield "retry: 2000\n\n"
        yield _event("state", job.snapshot())
        sent = job.position_after(after_frame)
        while True:
            items, ended = job.wait(sent, HEARTBEAT_S)
            for item in items:
                yield _event("result", item, item["frame"])
            sent += len(items)
            job.touch()
            if ended:
                yield _event("state", job.snapshot())
                yield _event("end", {"state": job.state, "frames_done": sent})
                return
            yield _event("state", job.snapshot()) if items else ": keep-alive\n\n"
    finally:
        job.watch(-1)


@bp.get("/api/v1/videos/<job_id>/events")
@document("The live results stream (Server-Sent Events)", tags=["video"], description=(
    "text/event-stream: `state` events (the job, as GET /api/v1/videos/<id>), one `result` event per frame "
    "as soon as it is detected (data: the frame's result; id: its frame index), then `end`. Reconnecting "
    "with Last-Event-ID (EventSource does it) or ?after=<frame> resumes after that frame. An open stream "
    "keeps the job alive; a job with no stream and no status poll for videos.abandon_after_s is cancelled."),
    parameters=[query("after", {"type": "integer", "minimum": -1}, "resume after this frame index")],
    responses={200: response("the event stream", {"type": "string"}, media_type="text/event-stream"),
               **_NOT_FOUND})
def events(job_id: str) -> Response:
    job = _job(job_id)
    text = request.headers.get("Last-Event-ID") or request.args.get("after") or "-1"
    try:
        after = int(text)
    except ValueError as exc:
        raise InputError(f"Last-Event-ID / 'after' must be a frame index, got {text[:40]!r}") from exc
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(stream_events(job, after), mimetype="text/event-stream", headers=headers)


@bp.get("/api/v1/videos/<job_id>/source")
@document("The uploaded video (HTTP range requests supported, for a <video> element)", tags=["video"],
          responses={200: response("the file", {"type": "string", "format": "binary"}, media_type="video/*"),
                     206: response("part of the file", {"type": "string", "format": "binary"},
                                   media_type="video/*"), **_NOT_FOUND})
def source(job_id: str) -> Response:
    job = _job(job_id)
    return send_file(job.source_path, conditional=True, download_name=job.name, max_age=0)


@bp.post("/api/v1/videos/<job_id>/render")
@document("Start (or report) the render of the annotated AVI", tags=["video"], responses={
    202: response("the render status; poll until state is done", RENDER), **_NOT_FOUND,
    409: error("not every frame is detected yet")})
def render(job_id: str) -> Any:
    job = _job(job_id)
    if job.state != "done":
        done, total = job.snapshot()["frames_done"], job.frames_total or "?"
        return error_response(409, "not_ready", f"video job {job.id} is {job.state} with {done} of {total} "
                                                "frames detected; it can be saved once every frame is")
    return jsonify(manager().render(job)), 202


@bp.get("/api/v1/videos/<job_id>/video.avi")
@document("Download the annotated video (MJPG AVI, boxes drawn)", tags=["video"], responses={
    200: response("the AVI", {"type": "string", "format": "binary"}, media_type="video/x-msvideo"),
    **_NOT_FOUND, 409: error("not rendered yet: POST .../render first")})
def video_avi(job_id: str) -> Any:
    job = _job(job_id)
    return _send_made(job.render, f"the annotated video of job {job.id}", "render", "video/x-msvideo",
                      as_attachment=True, download_name=f"{Path(job.name).stem or 'video'}-detected.avi")


@bp.post("/api/v1/videos/<job_id>/playable")
@document("Start (or report) a WebM (VP8) copy of the uploaded video for a browser that cannot play it "
          "(same frames and frame rate; runs while the frames are detected)", tags=["video"], responses={
              202: response("the copy's status; poll until state is done", RENDER), **_NOT_FOUND})
def playable(job_id: str) -> Any:
    return jsonify(manager().make_playable(_job(job_id))), 202


@bp.get("/api/v1/videos/<job_id>/playable.webm")
@document("The WebM copy of the uploaded video (HTTP range requests supported)", tags=["video"], responses={
    200: response("the WebM", {"type": "string", "format": "binary"}, media_type="video/webm"),
    206: response("part of the WebM", {"type": "string", "format": "binary"}, media_type="video/webm"),
    **_NOT_FOUND, 409: error("not made yet: POST .../playable first")})
def playable_webm(job_id: str) -> Any:
    job = _job(job_id)
    return _send_made(job.playable, f"the WebM copy of job {job.id}", "playable", "video/webm")


def _send_made(made: Derived, what: str, route: str, mimetype: str, **options: Any) -> Any:
    """The file made from a job (range requests answered), or 409 while it is not done yet."""
    if made.state != "done":
        return error_response(409, "not_ready", f"{what} is not made yet ({made.state}); "
                                                f"POST {route} first")
    return send_file(made.path, mimetype=mimetype, conditional=True, max_age=0, **options)


_HTML = {200: response("the page", media_type="text/html")}


@bp.get("/video")
@document("Video page: upload a video, watch the detections frame by frame, save it as AVI", tags=["pages"],
          responses=_HTML)
def page() -> str:
    cfg = services().config
    return render_template("video.html", model=cfg.models.detect, conf=cfg.models.conf,
                           max_upload_mb=cfg.videos.max_upload_mb)


@bp.get("/webcam")
@document("Webcam page: the browser's camera, detected live", tags=["pages"], responses=_HTML)
def webcam() -> str:
    cfg = services().config
    return render_template("webcam.html", model=cfg.models.detect, conf=cfg.models.conf)


def register(app: Flask) -> None:
    """The video API, the two pages in the navigation, and the job manager (closed with the services)."""
    svc = app.extensions["visioncast"]
    cfg = svc.config
    root = Path(cfg.videos.dir or Path(cfg.data_dir) / "videos").expanduser()
    jobs = JobManager(cfg.videos, root, publish=svc.publish)
    app.extensions[EXTENSION] = jobs
    svc.on_close.append(jobs.close)
    metrics = metrics_of(app)
    metrics.add_callback("visioncast_video_jobs", "video jobs kept, by state", jobs.states, labels=["state"])
    metrics.add_callback("visioncast_video_events", "video frames detected or failed, jobs cancelled as "
                         "abandoned, jobs expired", lambda: {(k,): v for k, v in jobs.counts.items()},
                         kind="counter", labels=["event"])
    app.register_blueprint(bp)
    add_nav_link(app, "videos.page", "Video",
                 "Upload a video and watch the detections appear frame by frame; save it with boxes as AVI.")
    add_nav_link(app, "videos.webcam", "Webcam",
                 "Point your camera at the scene: boxes drawn live, with the FPS.")
