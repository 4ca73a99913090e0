"""Video jobs over HTTP, and the video page. I/O: request bodies, job folders, streaming answers.

``POST /api/v1/videos`` (multipart field ``video``) saves the upload into a job folder, checks it is a video
OpenCV decodes (:mod:`~visioncast.server.videos.upload`), and starts a job
(:mod:`visioncast.server.videos.manager`); the page then follows it:
``GET /api/v1/videos/<id>`` (status; ``GET /api/v1/videos`` lists them), ``/results`` (every frame's
result so far), ``/events`` (the live results stream), ``/source`` (the uploaded file for a ``<video>``
element, with HTTP range requests),
``POST /render`` + ``GET /video.avi`` (the annotated AVI), ``POST /playable`` + ``GET /playable.webm`` (a
WebM copy of the source, for a browser that cannot play the upload: Chromium plays no AVI and no MPEG-4
Part 2), ``POST /resume`` (go on with a failed or cancelled job), ``DELETE`` (cancel and forget).
``GET /api/v1/videos`` lists the caller's jobs (the teacher's: all). Jobs are kept in the data dir and outlive
a restart of the server (:mod:`visioncast.server.videos.manager`).

A job belongs to the address that uploaded it: other students get 404 for it, the teacher sees them all.
The upload is served back inert: its container's video type (never the type its name suggests), ``nosniff``
and ``Content-Disposition: attachment``.

Why Server-Sent Events rather than a WebSocket for the live results: the flow is one-way (server → page); SSE
is plain HTTP (works through the same HTTP server, proxies and TLS, no upgrade, no extra library); and
``EventSource`` reconnects by itself, sending ``Last-Event-ID`` — each result's event id is its frame index —
so a reloaded or briefly disconnected page re-attaches and resumes after the last frame it has.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request, send_file

from visioncast.errors import InputError, NotFoundError
from visioncast.models.registry import TASK_NAMES
from visioncast.server import i18n
from visioncast.server.api import registry_model
from visioncast.server.auth.access import access
from visioncast.server.auth.core import client_id, current_role
from visioncast.server.errors import error_response
from visioncast.server.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from visioncast.server.live import live_response
from visioncast.server.metrics import metrics_of
from visioncast.server.openapi import Schema, document, error, query, response
from visioncast.server.pages import add_nav_link
from visioncast.server.query import task_options
from visioncast.server.services import services
from visioncast.server.sources import publish_source
from visioncast.server.videos.events import JobEvents
from visioncast.server.videos.job import Derived, VideoJob
from visioncast.server.videos.manager import JobManager
from visioncast.server.videos.upload import (
    FORMATS,
    MIME_TYPES,
    SNIFF_BYTES,
    open_checked,
    save_upload,
    sniff_container,
)

log = logging.getLogger(__name__)
EXTENSION = "visioncast.videos"

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
        "model": {"type": "string", "description": "the detection model"},
        "resumed_from": {"type": ["integer", "null"], "description": "the frame the job last resumed at "
                         "(after a server restart or POST resume); null when it ran in one go"},
        "stats": {"type": ["object", "null"], "description": "the statistics snapshot after the latest frame "
                  "(counts, unique totals, dwell; as GET /api/v1/stats of a stream)"},
        "error": {"type": "string"}, "created": {"type": "number", "description": "Unix time of the upload"},
        "watchers": {"type": "integer", "description": "open results streams"},
        "render": {"$ref": "#/components/schemas/VideoFile"},
        "render_webm": {"$ref": "#/components/schemas/VideoFile"},
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


@bp.before_request
def _open_jobs() -> None:
    """Jobs interrupted by a restart resume once the server takes requests for videos (idempotent)."""
    manager().open()


VIDEO_TASKS = TASK_NAMES


def _video_model(args: Mapping[str, str]) -> tuple[str, str | None]:
    """(task, model name) of the query: ``model`` (a registry name of any task) and/or ``task``; neither =
    the server's detector."""
    text = (args.get("task") or "").strip()
    if text and text not in VIDEO_TASKS:
        raise InputError(f"query 'task' must be one of {', '.join(VIDEO_TASKS)}, got {text[:40]!r}")
    name, task = registry_model(args.get("model"), text or None)
    return (text or task), name


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
    query("task", {"enum": list(VIDEO_TASKS), "default": "detect"}, "what to find in every frame: objects "
          "(the server's detector), the image's classes (the server's classifier), people with 17 keypoints "
          "(movenet-lightning, following the person from frame to frame) or faces with 5 landmarks (yunet)"),
    query("model", {"type": "string"}, "model name of any task (GET /api/v1/models); its task is the job's"),
    query("top", {"type": "integer", "minimum": 1}, "classify: how many classes per frame"),
    query("source", {"type": "string", "pattern": "^[^\\s/+#]{1,64}$", "default": "video"},
          "the channel name its results are published under (MQTT topic part), e.g. 操场"),
    IDEMPOTENCY_PARAMETER,
], responses={201: response("the job, queued", JOB),
              400: error("no 'video' field, truncated or frameless video"),
              413: error("video over videos.max_upload_mb, or its frames over server.max_pixels"),
              415: error("not a video"),
              429: error("this device already has videos.max_jobs_per_client jobs running or queued"),
              503: error("too many jobs kept (videos.max_jobs)")})
@idempotent
@access("student")
def upload() -> Any:
    jobs, cfg = manager(), services().config.videos
    owner = client_id()
    if current_role() != "teacher":
        jobs.make_room(owner)
    if jobs.full():
        return error_response(503, "busy", f"the server already keeps {cfg.max_jobs} video jobs "
                                           "(videos.max_jobs); delete one or wait for one to expire")
    task, model_name = _video_model(request.args)
    model = services().model(task, model_name)
    options = task_options(request.args, model.labels, model.name)
    source = publish_source(request.args, "video")
    job_id, folder = jobs.new_folder()
    try:
        path, name = save_upload(folder, cfg.max_upload_mb)
        with open_checked(path, name) as video:
            jobs.check_size(video.width, video.height, f"'{name}'")
            job = VideoJob.from_video(job_id, folder, video, name=name, task=task, model=model.name,
                                      options=options, owner=owner, source_name=source,
                                      lang=i18n.current())
    except BaseException:
        jobs.discard_folder(folder)
        raise
    jobs.start(job)
    log.info("video job %s: %s, %s frames at %.2f fps, %d×%d", job.id, name, job.frames_total, job.fps,
             job.width, job.height)
    return jsonify(job.snapshot()), 201


def owned_job(job_id: str) -> VideoJob:
    """The job, if the caller may see it (its owner or the teacher); 404 alike for others' and unknown ids."""
    job = manager().get(job_id)
    if job.owner != client_id() and current_role() != "teacher":
        raise NotFoundError(f"no video job with id {job_id!r} of yours")
    job.touch()
    return job


@bp.get("/api/v1/videos")
@document("The caller's video jobs (the teacher's: every job)", tags=["video"],
          responses={200: response("the jobs, oldest first", {"type": "object", "properties": {
              "jobs": {"type": "array", "items": JOB.ref}}})})
@access("student")
def list_jobs() -> Any:
    everyone = current_role() == "teacher"
    mine = [job for job in manager().jobs() if everyone or job.owner == client_id()]
    return jsonify(jobs=[job.snapshot() for job in sorted(mine, key=lambda job: job.created)])


@bp.get("/api/v1/videos/<job_id>")
@document("A video job's status", tags=["video"], responses={200: response("the job", JOB), **_NOT_FOUND})
@access("student")
def status(job_id: str) -> Any:
    return jsonify(owned_job(job_id).snapshot())


@bp.delete("/api/v1/videos/<job_id>")
@document("Cancel a video job and delete it with its files", tags=["video"],
          responses={200: response("the job as it was when deleted", JOB), **_NOT_FOUND})
@access("student")
def delete(job_id: str) -> Any:
    return jsonify(manager().delete(owned_job(job_id)))


@bp.get("/api/v1/videos/<job_id>/results")
@document("Every frame's result so far", tags=["video"],
          responses={200: response("the results, in frame order", RESULTS), **_NOT_FOUND})
@access("student")
def results(job_id: str) -> Any:
    job = owned_job(job_id)
    items, _ = job.wait(0, 0)
    return jsonify(id=job.id, state=job.state, results=items)


@bp.get("/api/v1/videos/<job_id>/events")
@document("The live results stream (Server-Sent Events)", tags=["video"], description=(
    "text/event-stream: `state` events (the job, as GET /api/v1/videos/<id>), one `result` event per frame "
    "as soon as it is detected (data: the frame's result; id: its frame index), then `end`. Reconnecting "
    "with Last-Event-ID (EventSource does it) or ?after=<frame> resumes after that frame. An open stream "
    "keeps the job alive; a job with no stream and no status poll for videos.abandon_after_s is cancelled."),
    parameters=[query("after", {"type": "integer", "minimum": -1}, "resume after this frame index")],
    responses={200: response("the event stream", {"type": "string"}, media_type="text/event-stream"),
               **_NOT_FOUND})
@access("student")
def events(job_id: str) -> Response:
    job = owned_job(job_id)
    text = request.headers.get("Last-Event-ID") or request.args.get("after") or "-1"
    try:
        after = int(text)
    except ValueError as exc:
        raise InputError(f"Last-Event-ID / 'after' must be a frame index, got {text[:40]!r}") from exc
    return live_response(lambda release: JobEvents(job, after, release), client_id(),
                         mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})


@bp.get("/api/v1/videos/<job_id>/source")
@document("The uploaded video (HTTP range requests supported, for a <video> element)", tags=["video"],
          responses={200: response("the file", {"type": "string", "format": "binary"}, media_type="video/*"),
                     206: response("part of the file", {"type": "string", "format": "binary"},
                                   media_type="video/*"), **_NOT_FOUND})
@access("student")
def source(job_id: str) -> Response:
    job = owned_job(job_id)
    with job.source_path.open("rb") as fh:
        kind = sniff_container(fh.read(SNIFF_BYTES))
    resp = send_file(job.source_path, mimetype=MIME_TYPES.get(kind or "", "application/octet-stream"),
                     conditional=True, as_attachment=True, download_name=_download_name(job.name, kind),
                     max_age=0)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp


def _download_name(name: str, kind: str | None) -> str:
    """The upload's name with the suffix of what it is (``clip.html`` that holds an MP4 → ``clip.mp4``)."""
    suffix = {"mp4": ".mp4", "avi": ".avi", "matroska": ".webm"}.get(kind or "", ".bin")
    return f"{Path(name).stem or 'video'}{suffix}"


@bp.post("/api/v1/videos/<job_id>/render")
@document("Start (or report) the render of the annotated AVI", tags=["video"], responses={
    202: response("the render status; poll until state is done", RENDER), **_NOT_FOUND,
    409: error("not every frame is detected yet")})
@access("student")
def render(job_id: str) -> Any:
    job = owned_job(job_id)
    if job.state != "done":
        done, total = job.snapshot()["frames_done"], job.frames_total or "?"
        return error_response(409, "not_ready", f"video job {job.id} is {job.state} with {done} of {total} "
                                                "frames detected; it can be saved once every frame is")
    return jsonify(manager().render(job)), 202


@bp.post("/api/v1/videos/<job_id>/resume")
@document("Go on with a failed or cancelled job from the frame after its last result (a job interrupted by "
          "a server restart resumes by itself)", tags=["video"], responses={
              202: response("the job, queued again", JOB), **_NOT_FOUND,
              409: error("the job is queued, running or done")})
@access("student")
def resume(job_id: str) -> Any:
    job = owned_job(job_id)
    if not manager().resume(job):
        return error_response(409, "not_resumable", f"video job {job.id} is {job.state}; only a failed or "
                                                     "cancelled job can be resumed (once it has stopped)")
    return jsonify(job.snapshot()), 202


@bp.get("/api/v1/videos/<job_id>/video.avi")
@document("Download the annotated video (MJPG AVI, boxes drawn)", tags=["video"], responses={
    200: response("the AVI", {"type": "string", "format": "binary"}, media_type="video/x-msvideo"),
    **_NOT_FOUND, 409: error("not rendered yet: POST .../render first")})
@access("student")
def video_avi(job_id: str) -> Any:
    job = owned_job(job_id)
    return _send_made(job.render, f"the annotated video of job {job.id}", "render", "video/x-msvideo",
                      as_attachment=True, download_name=f"{Path(job.name).stem or 'video'}-detected.avi")


@bp.post("/api/v1/videos/<job_id>/playable")
@document("Start (or report) a WebM (VP8) copy of the uploaded video for a browser that cannot play it "
          "(same frames and frame rate; runs while the frames are detected)", tags=["video"], responses={
              202: response("the copy's status; poll until state is done", RENDER), **_NOT_FOUND})
@access("student")
def playable(job_id: str) -> Any:
    return jsonify(manager().make_playable(owned_job(job_id))), 202


@bp.get("/api/v1/videos/<job_id>/playable.webm")
@document("The WebM copy of the uploaded video (HTTP range requests supported)", tags=["video"], responses={
    200: response("the WebM", {"type": "string", "format": "binary"}, media_type="video/webm"),
    206: response("part of the WebM", {"type": "string", "format": "binary"}, media_type="video/webm"),
    **_NOT_FOUND, 409: error("not made yet: POST .../playable first")})
@access("student")
def playable_webm(job_id: str) -> Any:
    job = owned_job(job_id)
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
@access("student")
def page() -> str:
    cfg = services().config
    return render_template("video.html", model=cfg.models.detect, conf=cfg.models.conf,
                           max_upload_mb=cfg.videos.max_upload_mb)


def register(app: Flask) -> None:
    """The video API, the video page in the navigation, and the job manager (closed with the services)."""
    svc = app.extensions["visioncast"]
    cfg = svc.config
    root = Path(cfg.videos.dir or Path(cfg.data_dir) / "videos").expanduser()
    jobs = JobManager(cfg.videos, root, bus=svc.bus, model=svc.model, pipeline=cfg.pipeline,
                      max_pixels=cfg.server.max_pixels)
    if restored := jobs.restore():
        log.info("%d video jobs kept in %s from before the restart", restored, root)
    app.extensions[EXTENSION] = jobs
    svc.on_close.append(jobs.close)
    metrics = metrics_of(app)
    metrics.add_callback("visioncast_video_jobs", "video jobs kept, by state", jobs.states, labels=["state"])
    metrics.add_callback("visioncast_video_events", "video frames detected or failed, jobs cancelled as "
                         "abandoned, expired or resumed", lambda: {(k,): v for k, v in jobs.counts.items()},
                         kind="counter", labels=["event"])
    app.register_blueprint(bp)
    add_nav_link(app, "videos.page", "Video",
                 "Upload a video and watch the detections appear frame by frame; save it with boxes as AVI.")
