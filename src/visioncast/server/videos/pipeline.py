"""A video job's run: the one :class:`~visioncast.pipeline.Pipeline` (every-frame mode) over the uploaded
file, with :class:`JobSink` taking each frame's tracked result and, on a first run, :class:`JobVideoSink`
writing the annotated WebM. I/O: opens the video file, writes the WebM.

Uploads thereby get what ``visioncast run`` gives a file: the same stages, threads and async inference, and
the same analytics (tracking, counts, totals, dwell), so the per-frame payloads carry track ids and the job
status its statistics snapshot. :func:`open_job_pipeline` is the one place a job builds its pipeline. A job
resumed after a restart starts at the frame after its last result; its analytics are first fed the saved
results of the frames before (track ids removed), so the tracker, totals and dwell go on where they were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

from visioncast.analytics import Analytics, AnalyticsSpec, StatsSnapshot
from visioncast.config import PipelineConfig
from visioncast.core.payload import result_from_payload, result_to_payload
from visioncast.lang import LANGS
from visioncast.pipeline import Pipeline, PipelineOptions
from visioncast.server.videos.job import VideoJob
from visioncast.sinks import Delivery, Sink
from visioncast.sinks.video import VideoFileSink
from visioncast.sources.video import VideoFileSource
from visioncast.tasks.base import Task

log = logging.getLogger(__name__)


class JobSink:
    """The pipeline's sink of a video job: every frame's payload into the job (memory, disk, results
    stream). The server's bus (MQTT …) is the pipeline's shared sink beside it, under the job's source."""

    needs_image = False

    def __init__(self, job: VideoJob, counts: Callable[[str, int], None]) -> None:
        self.job, self.count = job, counts

    def deliver(self, delivery: Delivery) -> None:
        frame, result = delivery.frame, delivery.result
        if frame is None or result is None:  # the events at the end of the video: in the job's stats already
            return
        payload = result_to_payload(result, frame=frame.index, timestamp=round(frame.timestamp_s, 4))
        stats = cast("StatsSnapshot | None", delivery.stats)
        if skipped := self.job.add(payload, result, stats):
            self.count("frames_failed", skipped)
        self.count("frames_detected", 1)

    def close(self) -> None:
        self.job.store.close()


class JobVideoSink:
    """The job's annotated WebM (``render_webm``), written frame by frame as the pipeline draws them
    (:func:`visioncast.overlay.draw_frame`, in the job's language) into ``annotated.part.webm``; the job
    manager keeps it when the run ends with every frame. Its progress is the Derived's ``frames_done``."""

    needs_image = True

    def __init__(self, job: VideoJob) -> None:
        self.derived = job.render_webm
        self.file = VideoFileSink(self.derived.part, fps=job.fps)
        self.derived.state, self.derived.frames_done, self.derived.error = "running", 0, ""
        self._closed = False

    @property
    def frames(self) -> int:
        return self.file.frames

    def deliver(self, delivery: Delivery) -> None:
        if delivery.frame is None:
            return
        self.file.deliver(delivery)
        self.derived.frames_done = self.file.frames

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.file.close()


def open_job_pipeline(job: VideoJob, model: Task, cfg: PipelineConfig, sink: JobSink, *,
                      bus: Sink | None = None, max_pixels: int | None = None,
                      video: JobVideoSink | None = None) -> Pipeline:
    """The job's pipeline, not started: its file from ``job.next_frame`` on (every frame within
    ``max_pixels``), the model with the job's options, analytics caught up on the results already saved,
    delivering to ``sink`` (and ``video``, drawn in the job's language) and the server's ``bus``.
    SourceError when the file cannot be opened."""
    analytics = job_analytics(job, cfg)
    start = job.next_frame
    replay(analytics, job.results[:start])
    source = VideoFileSource(job.source_path, start_frame=start, max_pixels=max_pixels)
    options = PipelineOptions(mode="every", queue_size=cfg.queue_size, async_jobs=cfg.async_jobs,
                              lang=job.lang if job.lang in LANGS else "en")
    sinks: list[Sink] = [sink] if video is None else [sink, video]
    return Pipeline(source, model, analytics=analytics, sinks=sinks, shared=[bus] if bus else [],
                    options=options, task_options=job.options)


def job_analytics(job: VideoJob, cfg: PipelineConfig) -> Analytics:
    """Fresh analytics as a job's pipeline has them (tracking, counts, totals, dwell; no lines or zones)."""
    return Analytics(AnalyticsSpec(track=cfg.track, lost_frames=cfg.lost_frames), source=job.source)


def replay(analytics: Analytics, payloads: list[dict[str, Any]]) -> None:
    """Feed saved results (their track ids removed) through ``analytics``, as the first run fed them."""
    for payload in payloads:
        if "error" in payload:
            continue
        result = result_from_payload(payload)
        if result.detections is not None:
            result = replace(result, detections=replace(result.detections, track_id=None))
        analytics.update(result, int(payload["frame"]), float(payload["timestamp"]))
