"""Video jobs: uploaded videos detected frame by frame in the background, kept across restarts. I/O: files,
worker threads.

A :class:`JobManager` owns a bounded pool of worker threads (``videos.workers`` jobs at once, the rest
queue). A job runs as the one frame engine, a :class:`~visioncast.pipeline.Pipeline` in every-frame mode with
the job's sink (:mod:`visioncast.server.videos.pipeline`): the server's detector with the upload's options,
tracking and statistics as in ``visioncast run``, every frame's result saved in the job folder, woken to the
results stream and delivered to the server's bus (MQTT …) as the job's source name (``video``, or the name the
uploader gave: never the job's id, which is what lets its owner fetch the upload). Each job has an owner (the
client's address): a client keeps at most ``max_jobs_per_client`` jobs, its oldest finished one making room
for a new one; every frame must stay within ``max_pixels``, whatever the container's header said.

Life of a job: queued → running → done | failed | cancelled. A job nobody watches (no open results stream
and no status poll for ``abandon_after_s``) is cancelled, so closing the page frees the CPU; a finished job
and its folder are removed ``keep_s`` after it ended. A reaper thread does both. Two files are made from a
job on request (:class:`~visioncast.server.videos.job.Derived`): the annotated AVI (MJPG, the job's Results
drawn by :func:`visioncast.overlay.draw_frame`), on the same pool once every frame is detected; and a WebM
(VP8) copy of the source for a browser that cannot play the upload (AVI, MPEG-4 Part 2 …), on a pool of its
own. The annotated WebM (VP8, which phones play) is written by the job's own pipeline while it runs, so it is
ready when the job ends; after a resumed run, or when a frame failed, it is rendered like the AVI once the
job is done.

Restarts (:meth:`JobManager.restore`, when the app is built): finished jobs come back from their folders
until they expire; a job the server was running (also when it was killed) is queued again and resumes at the
frame after its last saved result once the manager opens (:meth:`JobManager.open`, on the first request to
the video API), or fails with the reason when it cannot; folders that hold no job are removed.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from visioncast.config import PipelineConfig, VideosConfig
from visioncast.errors import ConfigError, NotFoundError, TooLargeError, VisioncastError
from visioncast.server.videos.job import FINAL, Derived, TooManyJobsError, VideoJob, write_video
from visioncast.server.videos.pipeline import JobSink, JobVideoSink, job_analytics, open_job_pipeline
from visioncast.sinks import Sink
from visioncast.tasks.base import Task

log = logging.getLogger(__name__)
REAP_INTERVAL_S = 1.0
MAX_RESTARTS = 3  # a job that was interrupted this often (a video that crashes the server?) is not resumed
GONE_KEPT = 1000  # ids of removed jobs remembered, for a 404 that says what happened


class JobManager:
    """The video jobs of one app: create, run, watch, render, cancel, expire, restore. Thread-safe."""

    def __init__(self, cfg: VideosConfig, root: Path, *, bus: Sink, model: Callable[[str, str], Task],
                 pipeline: PipelineConfig | None = None, max_pixels: int = 40_000_000) -> None:
        """``model(task, name)``: the server's loaded model (Services.model)."""
        if cfg.workers < 1:
            raise ConfigError(f"videos.workers must be at least 1, got {cfg.workers}")
        self.cfg, self.root, self.bus, self.model = cfg, root, bus, model
        self.pipeline_cfg = pipeline or PipelineConfig()
        self.max_pixels = max_pixels
        self._jobs: dict[str, VideoJob] = {}
        self._gone: OrderedDict[str, str] = OrderedDict()
        self._doomed: list[VideoJob] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(cfg.workers, thread_name_prefix="visioncast-video")
        self._copies = ThreadPoolExecutor(cfg.workers, thread_name_prefix="visioncast-video-copy")
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self.counts = {"frames_detected": 0, "frames_failed": 0, "cancelled_abandoned": 0, "expired": 0,
                       "resumed": 0}

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    # -- creating and finding jobs -------------------------------------------------------------------------
    def new_folder(self) -> tuple[str, Path]:
        """A fresh job id and its (created) folder, for the upload to be saved into."""
        job_id = secrets.token_hex(8)
        folder = self.root / job_id
        folder.mkdir(parents=True)
        return job_id, folder

    def discard_folder(self, folder: Path) -> None:
        """Remove the folder of an upload that never became a job (refused)."""
        shutil.rmtree(folder, ignore_errors=True)

    def start(self, job: VideoJob) -> VideoJob:
        """Queue ``job`` (its video already opened, checked and its state saved) for detection."""
        with self._lock:
            self._jobs[job.id] = job
        self.open()
        self._submit(job)
        return job

    def _submit(self, job: VideoJob) -> None:
        job.cancelled.clear()
        job.future = self._pool.submit(self._run, job)
        job.future.add_done_callback(_log_crash)

    def full(self) -> bool:
        with self._lock:
            return len(self._jobs) >= self.cfg.max_jobs

    def make_room(self, owner: str) -> None:
        """Let ``owner`` start one more job: delete its oldest finished jobs past ``max_jobs_per_client``;
        TooManyJobsError when its jobs still queued or running fill the quota."""
        limit = max(1, self.cfg.max_jobs_per_client)
        mine = sorted((job for job in self.jobs() if job.owner == owner), key=lambda job: job.created)
        finished = [job for job in mine if job.state in FINAL]
        while len(mine) >= limit and finished:
            oldest = finished.pop(0)
            mine.remove(oldest)
            self.delete(oldest)
        if len(mine) >= limit:
            raise TooManyJobsError(f"you already have {len(mine)} video jobs running or queued (at most "
                                   f"{limit} per device, videos.max_jobs_per_client); wait for one or "
                                   "delete it")

    def check_size(self, width: int, height: int, what: str) -> None:
        """TooLargeError when a ``width``×``height`` frame is over ``max_pixels`` (server.max_pixels)."""
        if width * height > self.max_pixels:
            raise TooLargeError(f"{what} is {width}×{height} = {width * height / 1e6:.1f} megapixels; the "
                                f"limit is {self.max_pixels / 1e6:.1f} megapixels (server.max_pixels)",
                                code="video_too_large")

    def get(self, job_id: str) -> VideoJob:
        """The job, or NotFoundError saying whether it expired, was deleted or never existed here."""
        with self._lock:
            job, gone = self._jobs.get(job_id), self._gone.get(job_id)
        if job is not None:
            return job
        if gone == "expired":
            raise NotFoundError(f"video job {job_id!r} has expired: jobs are kept {self.cfg.keep_s:g} s "
                                "after they end; upload the video again")
        if gone == "deleted":
            raise NotFoundError(f"video job {job_id!r} was deleted; upload the video again")
        raise NotFoundError(f"no video job with id {job_id!r} on this server (never created here, or "
                            "removed); upload the video again")

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
        return sum(job.state not in FINAL or job.render.busy or job.render_webm.busy or job.playable.busy
                   for job in self.jobs())

    # -- running -------------------------------------------------------------------------------------------
    def _run(self, job: VideoJob) -> None:
        if job.cancelled.is_set():
            job.set_state("cancelled", job.error or "cancelled before it started")
            return
        job.set_state("running")
        live: JobVideoSink | None = None
        try:
            sink = JobSink(job, self.count)
            if job.next_frame == 0 and job.render_webm.state in ("idle", "failed"):  # a first run
                live = JobVideoSink(job)
            job.pipeline = open_job_pipeline(job, self.model(job.task, job.model), self.pipeline_cfg, sink,
                                             bus=self.bus, max_pixels=self.max_pixels, video=live)
            if job.cancelled.is_set():  # cancelled while the pipeline was being built
                job.pipeline.stop()
            job.pipeline.run()
        except VisioncastError as exc:
            job.set_state("failed", str(exc))
        finally:
            job.store.close()
            self._finish(job)
            if live is not None:
                self._settle(job, live)

    def _settle(self, job: VideoJob, live: JobVideoSink) -> None:
        """Keep the WebM written during the run when it has every frame of a done job; otherwise drop it
        and, for a done job (some frames failed), render it from the source as the AVI is."""
        derived = job.render_webm
        live.close()
        if job.state == "done" and live.frames == job.frames_total and not job.frames_failed:
            try:
                os.replace(derived.part, derived.path)
                derived.state = "done"
                return
            except OSError as exc:
                log.warning("video job %s: keeping %s failed: %s", job.id, derived.path.name, exc)
        derived.part.unlink(missing_ok=True)
        derived.state, derived.frames_done = "idle", 0
        if job.state == "done":
            self.render_webm(job)

    def _finish(self, job: VideoJob) -> None:
        if self._stop.is_set() and not job.cancelled.is_set() and job.state == "running":
            job.set_state("queued")  # stopped with the server, not interrupted: not counted as a restart
            log.info("video job %s saved at frame %d: it resumes when the server starts again", job.id,
                     job.next_frame)
            return
        if job.cancelled.is_set():
            job.set_state("cancelled", job.error or "cancelled")
        elif not job.results:
            job.set_state("failed", job.error or f"'{job.name}' has no decodable frame")
        else:  # also after an unexpected error, which the pool logs: the job must not stay "running"
            job.set_state("done" if job.state == "running" else "failed", job.error or "")
        log.info("video job %s %s: %d frames at %.1f fps", job.id, job.state, len(job.results),
                 job.detect_fps())

    def cancel(self, job: VideoJob, reason: str = "cancelled") -> None:
        """Stop ``job`` (and its render): its pipeline drains the frames it holds and ends."""
        if job.state not in FINAL:
            job.error = reason
        job.cancelled.set()
        if job.pipeline is not None:
            job.pipeline.stop()
        if job.future is not None and job.future.cancel():
            job.set_state("cancelled", reason)

    def resume(self, job: VideoJob) -> bool:
        """Queue a failed or cancelled job again, from the frame after its last result; False when it is
        not one (or its worker has not let go of it yet)."""
        with job.cond:
            if job.state not in ("failed", "cancelled") or not _idle(job.future):
                return False
            job.resumed_from = job.next_frame
            job.set_state("queued")
        self.count("resumed")
        log.info("video job %s resumes at frame %d", job.id, job.resumed_from)
        self._submit(job)
        return True

    def delete(self, job: VideoJob, why: str = "deleted") -> dict[str, Any]:
        """Cancel ``job``, forget it at once, and remove its folder once its threads let go of it."""
        self.cancel(job, "cancelled by the user")
        with self._lock:
            self._jobs.pop(job.id, None)
            self._forget(job.id, why)
            self._doomed.append(job)
        return job.snapshot()

    def _forget(self, job_id: str, why: str) -> None:
        self._gone[job_id] = why
        while len(self._gone) > GONE_KEPT:
            self._gone.popitem(last=False)

    # -- files made from a job -----------------------------------------------------------------------------
    def render(self, job: VideoJob) -> dict[str, Any]:
        """Start the AVI render of a done job if not started (or failed before); the render status."""
        return self._make(job, job.render, self._pool, draw=True)

    def render_webm(self, job: VideoJob) -> dict[str, Any]:
        """Start the WebM (VP8) render of a done job, boxes drawn like the AVI's; the render status."""
        return self._make(job, job.render_webm, self._pool, draw=True)

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
        part = derived.part
        try:
            analytics = job_analytics(job, self.pipeline_cfg) if draw else None
            frames = write_video(job, part, derived, analytics=analytics)
            os.replace(part, derived.path)
        except (VisioncastError, OSError) as exc:
            log.warning("video job %s: writing %s failed: %s", job.id, derived.path.name, exc)
            derived.state, derived.error = "failed", str(exc)
            return
        derived.state = "done"
        log.info("video job %s: wrote %d frames to %s", job.id, frames, derived.path)

    # -- restarts, expiry ----------------------------------------------------------------------------------
    def restore(self) -> int:
        """Read back the jobs of an earlier server from ``root``: keep the finished ones that have not
        expired, queue the interrupted ones again (they resume on :meth:`open`), remove every other folder
        (expired jobs, uploads cut short, files of no job). The number of jobs restored."""
        if not self.root.is_dir():
            return 0
        removed = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            job = VideoJob.from_folder(folder)
            expired = job is not None and job.state in FINAL and \
                time.monotonic() - job.ended_s > self.cfg.keep_s
            if job is None or expired:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
                if expired:
                    self._forget(folder.name, "expired")
                continue
            for part in folder.glob("*.part.*"):  # a render cut short
                part.unlink(missing_ok=True)
            if job.state not in FINAL:
                self._interrupted(job)
            self._jobs[job.id] = job
        if removed:
            log.info("removed %d video job folders without a job or expired in %s", len(removed), self.root)
        return len(self._jobs)

    def _interrupted(self, job: VideoJob) -> None:
        """A job the earlier server did not finish: queued to resume, or failed with the reason. Only a job
        that was running counts as a restart (one queued, or stopped with the server, does not)."""
        at, total = job.next_frame, job.frames_total or "?"
        reason = f"interrupted by a server restart at frame {at} of {total}"
        job.restarts += job.state == "running"
        if not job.source_path.is_file():
            job.set_state("failed", f"{reason}; its video file is gone")
        elif job.restarts > MAX_RESTARTS:
            job.set_state("failed", f"{reason} ({job.restarts} times; not resumed again: POST resume to "
                                    "try once more)")
        else:
            job.resumed_from = at
            job.set_state("queued")
            log.info("video job %s %s: it resumes there", job.id, reason)

    def open(self) -> None:
        """Start the reaper and the jobs queued by :meth:`restore` (idempotent)."""
        with self._lock:
            if self._reaper is not None or self._stop.is_set():
                return
            self._reaper = threading.Thread(target=self._reap_forever, name="visioncast-video-reaper",
                                            daemon=True)
            self._reaper.start()
            waiting = [job for job in self._jobs.values() if job.state == "queued" and job.future is None]
        for job in waiting:
            self.count("resumed")
            job.touch()  # its page has abandon_after_s from now to re-attach
            self._submit(job)

    def _reap_forever(self) -> None:
        interval = min(REAP_INTERVAL_S, max(0.05, self.cfg.abandon_after_s / 4))
        while not self._stop.wait(interval):
            self.reap()

    def reap(self) -> None:
        """Cancel abandoned jobs, expire old finished ones, remove folders nobody uses any more."""
        now = time.monotonic()
        for job in self.jobs():
            idle_s = now - job.last_seen_s
            if job.state not in FINAL and job.watchers == 0 and idle_s > self.cfg.abandon_after_s \
                    and not job.cancelled.is_set():  # once: its pipeline may take a moment to drain
                self.count("cancelled_abandoned")
                log.info("video job %s abandoned (nobody watched for %.0f s): cancelled", job.id, idle_s)
                self.cancel(job, f"abandoned: nobody watched it for {self.cfg.abandon_after_s:g} s")
            elif job.state in FINAL and now - job.ended_s > self.cfg.keep_s and job.watchers == 0:
                self.count("expired")
                self.delete(job, "expired")
        with self._lock:
            doomed, self._doomed = self._doomed, []
        for job in doomed:
            if all(_idle(f) for f in (job.future, job.render.future, job.render_webm.future,
                                      job.playable.future)):
                shutil.rmtree(job.folder, ignore_errors=True)
            else:
                with self._lock:
                    self._doomed.append(job)

    def close(self) -> None:
        """Stop the workers (a running job is saved as it is and resumes at the next start); remove the
        folders of deleted jobs."""
        self._stop.set()
        for job in self.jobs():
            if job.pipeline is not None and job.state not in FINAL:
                job.pipeline.stop()
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
