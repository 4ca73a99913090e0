"""Assemble a pipeline from a source spec, a task and the ``pipeline`` config section. I/O: opens the
source.

Shared by ``visioncast run`` and the server's ``POST /api/v1/streams`` so both read the same settings the same
way: the analytics come from ``cfg.lines/zones/events``, the mode from ``cfg.mode`` unless overridden.
"""

from __future__ import annotations

from collections.abc import Sequence

from visioncast.analytics import Analytics, AnalyticsSpec
from visioncast.config import PipelineConfig
from visioncast.errors import ConfigError
from visioncast.pipeline import Pipeline, PipelineOptions
from visioncast.sinks.bus import Sink
from visioncast.sources import Source, open_source
from visioncast.tasks.base import Task, TaskOptions


def analytics_for(cfg: PipelineConfig, source: str, task: str = "detect") -> Analytics:
    """The Analytics the config asks for (ConfigError naming a bad line/zone/event spec, or lines and zones
    for a task without boxes)."""
    if task != "detect" and (cfg.lines or cfg.zones):
        raise ConfigError(f"lines and zones count boxes: they need a detect model, got a {task} model")
    spec = AnalyticsSpec(lines=cfg.lines, zones=cfg.zones, events=cfg.events, track=cfg.track,
                         lost_frames=cfg.lost_frames, event_hold_s=cfg.event_hold_s)
    return Analytics(spec, source=source)


def open_pipeline(
    source: str | Source,
    task: Task,
    cfg: PipelineConfig,
    *,
    name: str | None = None,
    sinks: Sequence[Sink] = (),
    shared: Sequence[Sink] = (),
    max_frames: int | None = None,
    task_options: TaskOptions | None = None,
) -> Pipeline:
    """A ready (not started) Pipeline running ``task`` with ``task_options`` on every frame; the analytics
    are checked before the source opens."""
    options = PipelineOptions(
        mode=cfg.mode, queue_size=cfg.queue_size, async_jobs=cfg.async_jobs, max_frames=max_frames,
        realtime=cfg.realtime, lang=cfg.lang or "en",
    )
    analytics = analytics_for(cfg, name or "stream", task.task)
    src = open_source(source, fps=cfg.folder_fps) if isinstance(source, str) else source
    analytics.source = name or src.name
    return Pipeline(src, task, analytics=analytics, sinks=sinks, shared=shared,
                    options=options, task_options=task_options)
