"""One video job: its state, per-frame results and statistics, kept in memory and in its folder. I/O: files.

A :class:`VideoJob` is the uploaded video, the model and options it is detected with, and one result per
frame in frame order (the payload ``result_to_payload(result, frame=i, timestamp=t)`` the API and the results
stream send, plus the tracked :class:`~visioncast.core.types.Result` itself, which the annotated AVI is drawn
from). A frame the pipeline could not detect (undecodable, or failed in a stage) gets ``{frame, timestamp,
error}`` in its place, so the results have no holes. Every result and every change of state is saved in the
job folder as it happens (:class:`~visioncast.server.videos.store.JobStore`);
:meth:`VideoJob.from_folder` reads a job back after a restart. :func:`write_video` makes the annotated AVI /
WebM and the playable WebM copy after the run (the annotated WebM of a first run is written during it, by
:class:`~visioncast.server.videos.pipeline.JobVideoSink`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visioncast.analytics import Analytics, StatsSnapshot
from visioncast.core.payload import result_from_payload
from visioncast.core.types import Result
from visioncast.errors import InputError, SinkError
from visioncast.overlay import draw_frame
from visioncast.server.videos.store import JobStore
from visioncast.sinks.video import VideoFileSink
from visioncast.sources.video import VideoFileSource
from visioncast.tasks.base import TaskOptions

if TYPE_CHECKING:
    from visioncast.pipeline import Pipeline

FINAL = ("done", "failed", "cancelled")
SKIPPED = "not detected: the frame could not be decoded or failed in the pipeline (see the server log)"


class Derived:
    """A file made from a job in the background: where it goes, its state and progress (frames written)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state, self.frames_done, self.error = ("done" if path.is_file() else "idle"), 0, ""
        self.future: Future[None] | None = None

    @property
    def busy(self) -> bool:
        return self.state in ("queued", "running")

    @property
    def part(self) -> Path:
        """Where the file is written until it is whole (``annotated.part.webm``; removed on a restart)."""
        return self.path.with_name(f"{self.path.stem}.part{self.path.suffix}")

    def status(self, frames_total: int | None) -> dict[str, Any]:
        if self.state == "done":
            return {"state": "done", "frames_done": frames_total or self.frames_done, "progress": 1.0,
                    "error": ""}
        progress = min(1.0, round(self.frames_done / frames_total, 4)) if frames_total else 0.0
        return {"state": self.state, "frames_done": self.frames_done, "progress": progress,
                "error": self.error}


class VideoJob:
    """One uploaded video and its per-frame results. Thread-safe through ``cond``."""

    def __init__(self, job_id: str, folder: Path, source: Path, meta: dict[str, Any]) -> None:
        self.id, self.folder, self.source_path = job_id, folder, source
        self.name, self.model = str(meta["name"]), str(meta["model"])
        self.task = str(meta.get("task", "detect"))  # detect | classify | pose | face
        self.owner = str(meta.get("owner", ""))  # the uploading client: it (and the teacher) may see the job
        self.source_name = str(meta.get("source_name") or "video")
        self.lang = str(meta.get("lang") or "en")  # of the page that uploaded it: the AVI's labels
        self.options = TaskOptions.from_dict(meta["options"])
        self.fps, self.width, self.height = float(meta["fps"]), int(meta["width"]), int(meta["height"])
        self.frames_total: int | None = meta.get("frames_total")
        self.created = float(meta.get("created", time.time()))
        self.state, self.error = "queued", ""
        self.restarts: int = meta.get("restarts", 0)
        self.resumed_from: int | None = meta.get("resumed_from")
        self.stats: StatsSnapshot | None = meta.get("stats")
        self.results: list[dict[str, Any]] = []
        self.kept: dict[int, Result] = {}  # the tracked Results of this run, drawn into the AVI
        self.frames_failed = 0
        self.started_s = self.ended_s = math.nan
        self.last_seen_s = time.monotonic()
        self.watchers = 0
        self.cancelled = threading.Event()
        self.cond = threading.Condition()
        self.listeners: list[Callable[[], None]] = []  # woken with the condition (live event streams)
        self.future: Future[None] | None = None
        self.pipeline: Pipeline | None = None
        self.store = JobStore(folder)
        self.render = Derived(folder / "annotated.avi")
        # the same, for browsers and phones (VP8): written while the job runs (pipeline.JobVideoSink)
        self.render_webm = Derived(folder / "annotated.webm")
        self.playable = Derived(folder / "playable.webm")

    @classmethod
    def from_video(cls, job_id: str, folder: Path, video: VideoFileSource, *, name: str, model: str,
                   options: TaskOptions, task: str = "detect", owner: str = "",
                   source_name: str = "video", lang: str = "en") -> VideoJob:
        """A new job for an opened, checked upload; its state is saved at once."""
        meta = {"name": name, "task": task, "model": model, "options": options.to_dict(), "owner": owner,
                "source_name": source_name, "lang": lang, "fps": video.fps,
                "width": video.width, "height": video.height, "frames_total": video.frame_count or None,
                "created": time.time()}
        job = cls(job_id, folder, video.path, meta)
        job.save()
        return job

    @classmethod
    def from_folder(cls, folder: Path) -> VideoJob | None:
        """The job saved in ``folder`` as it was when the server stopped, or None when there is none."""
        store = JobStore(folder)
        meta = store.load_meta()
        if meta is None or "source" not in meta:
            return None
        try:
            job = cls(folder.name, folder, folder / str(meta["source"]), meta)
        except (KeyError, TypeError, ValueError):
            return None
        job.state, job.error = str(meta.get("state", "failed")), str(meta.get("error", ""))
        job.results = store.load_results()
        job.frames_failed = sum("error" in p for p in job.results)
        if (ended := meta.get("ended")) is not None:  # Unix time → this process's monotonic clock
            job.ended_s = time.monotonic() - max(0.0, time.time() - float(ended))
        return job

    @property
    def source(self) -> str:
        """The channel name its results are published under (and its statistics' source): ``video`` or the
        name the uploader gave, never the job's id (with the id anyone could fetch the upload)."""
        return self.source_name

    @property
    def next_frame(self) -> int:
        """The frame a (resumed) run starts at: the one after the last with a result."""
        with self.cond:
            return self.results[-1]["frame"] + 1 if self.results else 0

    def meta(self) -> dict[str, Any]:
        """What ``job.json`` holds."""
        ended = None if math.isnan(self.ended_s) else time.time() - (time.monotonic() - self.ended_s)
        return {"id": self.id, "name": self.name, "source": self.source_path.name, "task": self.task,
                "model": self.model, "owner": self.owner, "source_name": self.source_name, "lang": self.lang,
                "options": self.options.to_dict(), "fps": self.fps, "width": self.width,
                "height": self.height,
                "frames_total": self.frames_total, "created": self.created, "state": self.state,
                "error": self.error, "ended": ended, "restarts": self.restarts,
                "resumed_from": self.resumed_from, "stats": self.stats}

    def save(self) -> None:
        with self.cond:
            self.store.save_meta(self.meta())

    def touch(self) -> None:
        """Someone is watching: postpone abandonment."""
        self.last_seen_s = time.monotonic()

    def watch(self, delta: int) -> None:
        with self.cond:
            self.watchers += delta
            self.touch()

    def set_state(self, state: str, error: str = "") -> None:
        """Move to ``state`` (a final state is kept) and save it."""
        with self.cond:
            if self.state in FINAL and state != "queued":
                return
            self.state, self.error = state, error
            if state == "running":
                self.started_s, self.ended_s = time.monotonic(), math.nan
            if state in FINAL:
                self.ended_s = time.monotonic()
                if state == "done":
                    self.frames_total = self.next_frame
            self.save()
            self._notify()

    def add(self, payload: dict[str, Any], result: Result | None = None,
            stats: StatsSnapshot | None = None) -> int:
        """Keep and save one frame's result (``payload["frame"]``), after placeholders for the frames before
        it that have none; how many placeholders were added."""
        with self.cond:
            index = int(payload["frame"])
            gap = range(self.next_frame, index)
            for missing in gap:
                self._keep({"frame": missing, "timestamp": round(missing / self.fps, 4), "error": SKIPPED})
            self.frames_failed += len(gap) + ("error" in payload)
            self._keep(payload)
            if result is not None:
                self.kept[index] = result
            self.stats = stats or self.stats
            self._notify()
            return len(gap)

    def _keep(self, payload: dict[str, Any]) -> None:
        self.store.append(payload)
        self.results.append(payload)

    def result_at(self, index: int) -> Result | None:
        """The tracked Result of frame ``index`` (from its payload for a job read back after a restart)."""
        with self.cond:
            if index in self.kept:
                return self.kept[index]
            payload = self.results[index] if index < len(self.results) else None
        if payload is None or "error" in payload or payload["frame"] != index:
            return None
        return result_from_payload(payload)

    def _notify(self) -> None:
        """(holding ``cond``) Wake the threads waiting on the job and the live streams listening to it."""
        self.cond.notify_all()
        for listener in self.listeners:
            listener()

    def listen(self, listener: Callable[[], None], *, stop: bool = False) -> None:
        """Call ``listener`` (cheap, thread-safe) on every change; ``stop`` to no longer."""
        with self.cond:
            if stop:
                self.listeners.remove(listener)
            else:
                self.listeners.append(listener)

    def wait(self, after: int, timeout_s: float) -> tuple[list[dict[str, Any]], bool]:
        """(results from position ``after`` on, whether the job ended); waits up to ``timeout_s`` for news."""
        with self.cond:
            if len(self.results) <= after and self.state not in FINAL:
                self.cond.wait(timeout_s)
            return self.results[after:], self.state in FINAL

    def position_after(self, frame: int) -> int:
        """How many results have frame index ≤ ``frame``: where a stream resumes after event id ``frame``."""
        with self.cond:
            return max(0, min(len(self.results), frame + 1))

    def detect_fps(self) -> float:
        """Frames detected per second of this run's running time (0 before its first frame)."""
        end = self.ended_s if not math.isnan(self.ended_s) else time.monotonic()
        elapsed = end - self.started_s
        done = len(self.results) - (self.resumed_from or 0)
        return round(done / elapsed, 2) if elapsed > 0 and done > 0 else 0.0

    def snapshot(self) -> dict[str, Any]:
        """The job status as JSON (``GET /api/v1/videos/<id>``)."""
        with self.cond:
            done, total = len(self.results), self.frames_total
            return {"id": self.id, "name": self.name, "state": self.state, "frames_done": done,
                    "frames_total": total, "frames_failed": self.frames_failed, "fps": self.fps,
                    "width": self.width, "height": self.height, "detect_fps": self.detect_fps(),
                    "source": self.source, "task": self.task, "model": self.model, "error": self.error,
                    "created": self.created, "watchers": self.watchers, "resumed_from": self.resumed_from,
                    "stats": self.stats, "render": self.render.status(total),
                    "render_webm": self.render_webm.status(total), "playable": self.playable.status(total)}


def write_video(job: VideoJob, path: Path, progress: Derived, *, analytics: Analytics | None) -> int:
    """Write the job's video to ``path`` at the source fps (codec by suffix, sinks/video.py); the frame
    count. With ``analytics`` (fresh, as the job's pipeline had them) its Results are drawn as ``run -o``
    draws a pipeline's frames (:func:`visioncast.overlay.draw_frame`: boxes, tags, the counts panel), in the
    job's language; without, the frames are copied as they are.

    Decodes the source again (frames are not kept in memory) and counts progress in ``progress.frames_done``;
    a frame without a result (failed or damaged) is written as it is. SinkError when cancelled or unwritable.
    """
    sink = VideoFileSink(path, fps=job.fps)
    try:
        with VideoFileSource(job.source_path) as video:
            for frame in video:
                if job.cancelled.is_set():
                    raise SinkError(f"writing {path.name} of video job {job.id}: cancelled")
                result = job.result_at(frame.index) if analytics is not None else None
                image = frame.image
                if analytics is not None and result is not None:
                    if result.detections is not None:  # tracked again, as the job's pipeline tracked them
                        result = replace(result, detections=replace(result.detections, track_id=None))
                    result, stats, _ = analytics.update(result, frame.index, frame.timestamp_s)
                    image = draw_frame(image, result, stats, analytics.lines, analytics.zones, lang=job.lang)
                sink.write(image)
                progress.frames_done += 1
    finally:
        sink.close()
    return sink.frames


class TooManyJobsError(InputError):
    """A client's video jobs already fill its quota (HTTP 429)."""

    code = "too_many_jobs"
    http_status = 429
