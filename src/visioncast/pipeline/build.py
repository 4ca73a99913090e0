"""Assemble a pipeline from a source spec, a detector and the ``pipeline`` config section. I/O: opens the
source.

Shared by ``visioncast run`` and the server's ``POST /api/v1/streams`` so both read the same settings the same
way: the analytics come from ``cfg.lines/zones/events``, the mode from ``cfg.mode`` unless overridden.
"""

from __future__ import annotations

from collections.abc import Sequence

from visioncast.analytics import Analytics, AnalyticsSpec
from visioncast.config import PipelineConfig
from visioncast.pipeline import FrameSink, Pipeline, PipelineOptions, Publisher
from visioncast.sources import Source, open_source
from visioncast.tasks.detect import Detector


def analytics_for(cfg: PipelineConfig, source: str) -> Analytics:
    """The Analytics the config asks for (ConfigError naming a bad line/zone/event spec)."""
    spec = AnalyticsSpec(lines=cfg.lines, zones=cfg.zones, events=cfg.events, track=cfg.track,
                         lost_frames=cfg.lost_frames, event_hold_s=cfg.event_hold_s)
    return Analytics(spec, source=source)


def open_pipeline(
    source: str | Source,
    detector: Detector,
    cfg: PipelineConfig,
    *,
    name: str | None = None,
    sinks: Sequence[FrameSink] = (),
    publishers: Sequence[Publisher] = (),
    max_frames: int | None = None,
) -> Pipeline:
    """A ready (not started) Pipeline; the analytics are checked before the source opens."""
    options = PipelineOptions(
        mode=cfg.mode, queue_size=cfg.queue_size, async_jobs=cfg.async_jobs, max_frames=max_frames,
        realtime=cfg.realtime,
    )
    analytics = analytics_for(cfg, name or "stream")
    src = open_source(source, fps=cfg.folder_fps) if isinstance(source, str) else source
    analytics.source = name or src.name
    return Pipeline(src, detector, analytics=analytics, sinks=sinks, publishers=publishers, options=options)
