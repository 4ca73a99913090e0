"""Video jobs: an uploaded video detected frame by frame in the background. I/O: files, worker threads.

A :class:`JobManager` owns a bounded pool of worker threads (``videos.workers`` jobs at once, the rest
queue). A job decodes its file with :class:`visioncast.sources.video.VideoFileSource` (read ahead by
:class:`~visioncast.sources.prefetch.Prefetch`), runs every frame through ``detect`` (the server's detector:
the same model and options as ``POST /api/v1/detect``) with ``IN_FLIGHT`` frames at once, in order
(:func:`visioncast.parallel.ordered_map`: the runtime runs them side by side), appends
the frame's payload ``result_to_payload(result, frame=i, timestamp=t)`` to its results and wakes whoever
waits for them (the results stream). Every result also goes to ``publish`` (``Services.publish``: MQTT and
the other sinks) as source ``video`` (or the name given at upload).

Life of a job: queued → running → done | failed | cancelled. A job nobody watches (no open results stream
and no status poll for ``abandon_after_s``) is cancelled, so closing the page frees the CPU; a finished job
and its folder are removed ``keep_s`` after it ended. A reaper thread does both. Two files are made from a
job on request (:class:`Derived`): the annotated AVI (MJPG, boxes drawn by
:func:`visioncast.draw.draw_result`), on the same pool once every frame is detected; and a WebM (VP8) copy of
the source for a browser that cannot play the upload (AVI, MPEG-4 Part 2 …), on a pool of its own so it runs
while the frames are still being detected.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from visioncast.config import VideosConfig
from visioncast.core.payload import result_from_payload, result_to_payload
from visioncast.core.types import Frame, Result
from visioncast.draw import draw_result
from visioncast.errors import ConfigError, NotFoundError, SinkError, VisioncastError
from visioncast.parallel import ordered_map
from visioncast.sinks.video import VideoFileSink
from visioncast.sources.prefetch import Prefetch
from visioncast.sources.video import VideoFileSource

log = logging.getLogger(__name__)
FINAL = ("done", "failed", "cancelled")
REAP_INTERVAL_S = 1.0
PREFETCH_FRAMES = 4  # decoded ahead by a reader thread, so decoding overlaps detection
IN_FLIGHT = 2  # frames detected at once: onnxruntime runs them on separate cores (runtimes/onnx.py)
Detect = Callable[[np.ndarray], Result]
Publish = Callable[..., None]


class Derived:
    """A file made from a job in the background: where it goes, its state and progress (frames written)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state, self.frames_done, self.error = "idle", 0, ""
        self.future: Future[None] | None = None

    @property
    def busy(self) -> bool:
        return self.state in ("queued", "running")

    def status(self, frames_total: int | None) -> dict[str, Any]:
        progress = min(1.0, round(self.frames_done / frames_total, 4)) if frames_total else 0.0
        return {"state": self.state, "frames_done": self.frames_done, "progress": progress,
                "error": self.error}


class VideoJob:
    """One uploaded video and its per-frame results. Thread-safe through ``cond``."""

    def __init__(self, job_id: str, folder: Path, source: Path, video: VideoFileSource, name: str, *,
                 channel: str = "video") -> None:
        self.id, self.folder, self.source_path, self.name = job_id, folder, source, name
        self.channel = channel
        self.fps, self.width, self.height = video.fps, video.width, video.height
        self.frames_total: int | None = video.frame_count or None
        self.state = "queued"
        self.error = ""
        self.results: list[dict[str, Any]] = []
        self.frames_failed = 0
        self.created = time.time()
        self.started_s = self.ended_s = math.nan
        self.last_seen_s = time.monotonic()
        self.watchers = 0
        self.cancelled = threading.Event()
        self.cond = threading.Condition()
        self.future: Future[None] | None = None
        self.render = Derived(folder / "annotated.avi")
        self.playable = Derived(folder / "playable.webm")

    @property
    def source(self) -> str:
        """The channel name its results are published under (given at upload, default 'video')."""
        return self.channel

    def touch(self) -> None:
        """Someone is watching: postpone abandonment."""
        self.last_seen_s = time.monotonic()

    def watch(self, delta: int) -> None:
        with self.cond:
            self.watchers += delta
            self.touch()

    def set_state(self, state: str, error: str = "") -> None:
        with self.cond:
            if self.state in FINAL:
                return
            self.state, self.error = state, error
            if state == "running":
                self.started_s = time.monotonic()
            if state in FINAL:
                self.ended_s = time.monotonic()
                if state == "done":
                    self.frames_total = len(self.results)
            self.cond.notify_all()

    def add(self, payload: dict[str, Any], *, failed: bool = False) -> None:
        with self.cond:
            self.results.append(payload)
            self.frames_failed += failed
            self.cond.notify_all()

    def wait(self, after: int, timeout_s: float) -> tuple[list[dict[str, Any]], bool]:
        """(results from position ``after`` on, whether the job ended); waits up to ``timeout_s`` for news."""
        with self.cond:
            if len(self.results) <= after and self.state not in FINAL:
                self.cond.wait(timeout_s)
            return self.results[after:], self.state in FINAL

    def position_after(self, frame: int) -> int:
        """How many results have frame index ≤ ``frame``: where a stream resumes after event id ``frame``."""
        with self.cond:
            return sum(1 for p in self.results if p["frame"] <= frame)

    def detect_fps(self) -> float:
        """Frames detected per second of running time (0 before the first frame)."""
        end = self.ended_s if not math.isnan(self.ended_s) else time.monotonic()
        elapsed = end - self.started_s
        return round(len(self.results) / elapsed, 2) if elapsed > 0 and self.results else 0.0

    def snapshot(self) -> dict[str, Any]:
        """The job status as JSON (``GET /api/v1/videos/<id>``)."""
        with self.cond:
            done, total = len(self.results), self.frames_total
            return {"id": self.id, "name": self.name, "state": self.state, "frames_done": done,
                    "frames_total": total, "frames_failed": self.frames_failed, "fps": self.fps,
                    "width": self.width, "height": self.height, "detect_fps": self.detect_fps(),
                    "source": self.source, "error": self.error, "created": self.created,
                    "watchers": self.watchers, "render": self.render.status(total),
                    "playable": self.playable.status(total)}


class JobManager:
    """The video jobs of one app: create, run, watch, render, cancel, expire. Thread-safe."""

    def __init__(self, cfg: VideosConfig, root: Path, *, publish: Publish) -> None:
        if cfg.workers < 1:
            raise ConfigError(f"videos.workers must be at least 1, got {cfg.workers}")
        self.cfg, self.root, self.publish = cfg, root, publish
        self._jobs: dict[str, VideoJob] = {}
        self._doomed: list[VideoJob] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(cfg.workers, thread_name_prefix="visioncast-video")
        self._copies = ThreadPoolExecutor(cfg.workers, thread_name_prefix="visioncast-video-copy")
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self.counts = {"frames_detected": 0, "frames_failed": 0, "cancelled_abandoned": 0, "expired": 0}

    def new_folder(self) -> tuple[str, Path]:
        """A fresh job id and its (created) folder, for the upload to be saved into."""
        job_id = secrets.token_hex(8)
        folder = self.root / job_id
        folder.mkdir(parents=True)
        return job_id, folder

    def discard_folder(self, folder: Path) -> None:
        """Remove the folder of an upload that never became a job (refused)."""
        shutil.rmtree(folder, ignore_errors=True)

    def remove_orphans(self) -> int:
        """Remove job folders left by an earlier server (jobs live in memory) older than ``keep_s``."""
        if not self.root.is_dir():
            return 0
        cutoff, removed = time.time() - self.cfg.keep_s, 0
        for entry in self.root.iterdir():
            if entry.is_dir() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        return removed

    def start(self, job: VideoJob, detect: Detect) -> VideoJob:
        """Queue ``job`` (its video already opened and checked) for detection."""
        with self._lock:
            self._ensure_reaper()
            self._jobs[job.id] = job
        job.future = self._pool.submit(self._run, job, detect)
        job.future.add_done_callback(_log_crash)
        return job

    def full(self) -> bool:
        with self._lock:
            return len(self._jobs) >= self.cfg.max_jobs

    def get(self, job_id: str) -> VideoJob:
        """The job, or NotFoundError naming the id."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no video job with id {job_id!r} (finished jobs are removed after "
                                f"{self.cfg.keep_s:.0f} s; upload the video again)")
        return job

    def jobs(self) -> list[VideoJob]:
        with self._lock:
            return list(self._jobs.values())

    def states(self) -> dict[tuple[str, ...], int]:
        """Jobs kept, by state (for /metrics)."""
        out: dict[tuple[str, ...], int] = {(state,): 0 for state in ("queued", "running", *FINAL)}
        for job in self.jobs():
            out[(job.state,)] += 1
        return out

    def busy(self) -> int:
        """Jobs queued or running, and files being made from them."""
        return sum(job.state not in FINAL or job.render.busy or job.playable.busy for job in self.jobs())

    def _run(self, job: VideoJob, detect: Detect) -> None:
        if job.cancelled.is_set():
            job.set_state("cancelled", job.error or "cancelled before it started")
            return
        job.set_state("running")
        try:
            with VideoFileSource(job.source_path) as video, Prefetch(video, PREFETCH_FRAMES) as frames:
                for frame, result in ordered_map(lambda f: detect(f.image), frames, IN_FLIGHT,
                                                 name=f"visioncast-job-{job.id}"):
                    if job.cancelled.is_set():
                        break
                    self._add_result(job, frame, result)
        except VisioncastError as exc:
            job.set_state("failed", str(exc))
        finally:
            self._finish(job)

    def _finish(self, job: VideoJob) -> None:
        if job.cancelled.is_set():
            job.set_state("cancelled", job.error or "cancelled")
        elif not job.results:
            job.set_state("failed", f"'{job.name}' has no decodable frame")
        else:  # also after an unexpected error, which the pool logs: the job must not stay "running"
            job.set_state("done" if job.state == "running" else "failed", job.error or "")
        log.info("video job %s %s: %d frames at %.1f fps", job.id, job.state, len(job.results),
                 job.detect_fps())

    def _add_result(self, job: VideoJob, frame: Frame, result: Result | Exception) -> None:
        extra = {"frame": frame.index, "timestamp": round(frame.timestamp_s, 4)}
        if isinstance(result, Exception):  # the per-frame guard: one bad frame must not end the job
            self.counts["frames_failed"] += 1
            log.warning("video job %s frame %d failed: %s", job.id, frame.index, result)
            job.add({**extra, "error": f"{type(result).__name__}: {result}"}, failed=True)
            return
        job.add(result_to_payload(result, **extra))
        self.counts["frames_detected"] += 1
        self.publish(result, source=job.source, frame=frame, timestamp=extra["timestamp"])

    def cancel(self, job: VideoJob, reason: str = "cancelled") -> None:
        """Stop ``job`` (and its render) at the next frame."""
        if job.state not in FINAL:
            job.error = reason
        job.cancelled.set()
        if job.future is not None and job.future.cancel():
            job.set_state("cancelled", reason)

    def delete(self, job: VideoJob) -> dict[str, Any]:
        """Cancel ``job``, forget it at once, and remove its folder once its threads let go of it."""
        self.cancel(job, "cancelled by the user")
        with self._lock:
            self._jobs.pop(job.id, None)
            self._doomed.append(job)
        return job.snapshot()

    def render(self, job: VideoJob) -> dict[str, Any]:
        """Start the AVI render of a done job if not started (or failed before); the render status."""
        return self._make(job, job.render, self._pool, draw=True)

    def make_playable(self, job: VideoJob) -> dict[str, Any]:
        """Start the WebM copy of the job's source if not started (or failed before); its status."""
        return self._make(job, job.playable, self._copies, draw=False)

    def _make(self, job: VideoJob, derived: Derived, pool: ThreadPoolExecutor, *,
              draw: bool) -> dict[str, Any]:
        with job.cond:
            if derived.state in ("idle", "failed"):
                derived.state, derived.frames_done, derived.error = "queued", 0, ""
                derived.future = pool.submit(self._write, job, derived, draw)
                derived.future.add_done_callback(_log_crash)
            return derived.status(job.frames_total)

    def _write(self, job: VideoJob, derived: Derived, draw: bool) -> None:
        derived.state = "running"
        part = derived.path.with_name(f"{derived.path.stem}.part{derived.path.suffix}")
        try:
            frames = write_video(job, part, derived, draw=draw)
            os.replace(part, derived.path)
        except (VisioncastError, OSError) as exc:
            log.warning("video job %s: writing %s failed: %s", job.id, derived.path.name, exc)
            derived.state, derived.error = "failed", str(exc)
            return
        derived.state = "done"
        log.info("video job %s: wrote %d frames to %s", job.id, frames, derived.path)

    def _ensure_reaper(self) -> None:
        if self._reaper is None:
            if removed := self.remove_orphans():
                log.info("removed %d video job folders left by an earlier server in %s", removed, self.root)
            self._reaper = threading.Thread(target=self._reap_forever, name="visioncast-video-reaper",
                                            daemon=True)
            self._reaper.start()

    def _reap_forever(self) -> None:
        interval = min(REAP_INTERVAL_S, max(0.05, self.cfg.abandon_after_s / 4))
        while not self._stop.wait(interval):
            self.reap()

    def reap(self) -> None:
        """Cancel abandoned jobs, expire old finished ones, remove folders nobody uses any more."""
        now = time.monotonic()
        for job in self.jobs():
            idle_s = now - job.last_seen_s
            if job.state not in FINAL and job.watchers == 0 and idle_s > self.cfg.abandon_after_s:
                self.counts["cancelled_abandoned"] += 1
                log.info("video job %s abandoned (nobody watched for %.0f s): cancelled", job.id, idle_s)
                self.cancel(job, f"abandoned: nobody watched it for {self.cfg.abandon_after_s:g} s")
            elif job.state in FINAL and now - job.ended_s > self.cfg.keep_s and job.watchers == 0:
                self.counts["expired"] += 1
                self.delete(job)
        with self._lock:
            doomed, self._doomed = self._doomed, []
        for job in doomed:
            if _idle(job.future) and _idle(job.render.future) and _idle(job.playable.future):
                shutil.rmtree(job.folder, ignore_errors=True)
            else:
                with self._lock:
                    self._doomed.append(job)

    def close(self) -> None:
        """Cancel everything, wait for the workers, remove every job folder."""
        self._stop.set()
        for job in self.jobs():
            self.delete(job)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._copies.shutdown(wait=True, cancel_futures=True)
        if self._reaper is not None:
            self._reaper.join(5.0)
        for job in self._doomed:
            shutil.rmtree(job.folder, ignore_errors=True)
        self._doomed.clear()


def _log_crash(future: Future[None]) -> None:
    """A worker that raised past the per-frame guard is a bug: make it visible in the log."""
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.error("video job worker crashed: %s", exc, exc_info=exc)


def _idle(future: Future[None] | None) -> bool:
    return future is None or future.done()


def write_video(job: VideoJob, path: Path, progress: Derived, *, draw: bool) -> int:
    """Write the job's video to ``path`` at the source fps (codec by suffix, sinks/video.py), with its boxes
    drawn when ``draw``; the frame count.

    Re-decodes the source (frames are not kept in memory) and counts progress in ``progress.frames_done``; a
    frame without a result (failed or damaged) is written as it is. SinkError when cancelled or unwritable.
    """
    with job.cond:
        by_frame = {p["frame"]: p for p in job.results if "error" not in p} if draw else {}
    sink = VideoFileSink(path, fps=job.fps)
    try:
        with VideoFileSource(job.source_path) as video:
            for frame in video:
                if job.cancelled.is_set():
                    raise SinkError(f"writing {path.name} of video job {job.id}: cancelled")
                payload = by_frame.get(frame.index)
                result = result_from_payload(payload) if payload is not None else None
                image = draw_result(frame.image, result) if result is not None else frame.image
                sink.write(frame, result, annotated=image)  # type: ignore[arg-type]
                progress.frames_done += 1
    finally:
        sink.close()
    return sink.frames

