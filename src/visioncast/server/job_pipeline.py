"""A video job's run: the one :class:`~visioncast.pipeline.Pipeline` (every-frame mode) over the uploaded
file, with :class:`JobSink` taking each frame's tracked result. I/O: opens the video file.

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
from visioncast.errors import InputError
from visioncast.models.registry import Model
from visioncast.pipeline import Pipeline, PipelineOptions
from visioncast.server.job import VideoJob
from visioncast.sinks import Delivery, Sink
from visioncast.sources.video import VideoFileSource
from visioncast.tasks.base import Task
from visioncast.tasks.detect import DetectOptions, Detector
from visioncast.tasks.pose import MoveNetPose
from visioncast.tasks.staged import StagedTask

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


def open_job_pipeline(job: VideoJob, model: Model, cfg: PipelineConfig, sink: JobSink, *,
                      bus: Sink | None = None, max_pixels: int | None = None) -> Pipeline:
    """The job's pipeline, not started: its file from ``job.next_frame`` on (every frame within
    ``max_pixels``), ``detector`` with the job's options, analytics caught up on the results already saved,
    delivering to ``sink`` and the server's ``bus``. SourceError when the file cannot be opened."""
    analytics = Analytics(AnalyticsSpec(track=cfg.track, lost_frames=cfg.lost_frames), source=job.source)
    start = job.next_frame
    replay(analytics, job.results[:start])
    source = VideoFileSource(job.source_path, start_frame=start, max_pixels=max_pixels)
    tuned = with_options(model, job.options)
    options = PipelineOptions(mode="every", queue_size=cfg.queue_size, async_jobs=cfg.async_jobs)
    return Pipeline(source, tuned, analytics=analytics, sinks=[sink], shared=[bus] if bus else [],
                    options=options)


def with_options(model: Model, options: DetectOptions) -> Task:
    """A copy of the server's shared ``model`` with a job's thresholds (MoveNet: a follower of its own, which
    crops around the person of the frames before)."""
    if isinstance(model, Detector):
        return Detector(model.runtime, model.decoder, model.labels, name=model.name, options=options)
    if isinstance(model, StagedTask):
        task = model.with_options(options)
        return task.follower() if isinstance(task, MoveNetPose) else task
    raise InputError(f"model {model.name!r} classifies; video jobs detect, find poses or faces")


def replay(analytics: Analytics, payloads: list[dict[str, Any]]) -> None:
    """Feed saved results (their track ids removed) through ``analytics``, as the first run fed them."""
    for payload in payloads:
        if "error" in payload:
            continue
        result = result_from_payload(payload)
        if result.detections is not None:
            result = replace(result, detections=replace(result.detections, track_id=None))
        analytics.update(result, int(payload["frame"]), float(payload["timestamp"]))
