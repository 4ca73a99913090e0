"""`run --ray`'s actor: one edge pipeline per source on a Ray node. I/O: everything a pipeline does.

It lives with the command (not in :mod:`visioncast.scale`) because it is the ``run`` command for one source:
:class:`PipelineWorker`, on whichever node Ray places it, builds the detector, source, outputs and MQTT
publisher with ``run``'s own functions (``open_task``, ``open_outputs``, ``open_push``), starts the
:class:`~visioncast.pipeline.Pipeline` in the background and answers ``progress()`` and ``stop()`` from the
driver. Each worker has its own tracking and statistics; all publish to the broker given with ``--mqtt``
(an external Mosquitto or EMQX reachable from every node) and write their files on their node's disk (a
shared mount makes them visible in one place).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from visioncast.cli.run import open_outputs, open_push, open_task, quiet_opencv
from visioncast.config import Config
from visioncast.pipeline import Pipeline
from visioncast.pipeline.build import analytics_for, open_pipeline
from visioncast.scale.cluster import import_ray
from visioncast.sinks.mqtt import MqttSink
from visioncast.sources import Source, open_source

STOP_WAIT_S = 10.0


class PipelineWorker:
    """``visioncast run`` for one source (``args`` is that source's copy of the parsed flags)."""

    def __init__(self, args: argparse.Namespace, cfg: Config) -> None:
        self.args, self.cfg = args, cfg
        self.pipeline: Pipeline | None = None
        self.source: Source | None = None
        self.push: MqttSink | None = None
        self.started_at = time.monotonic()
        self.node = ""

    def start(self) -> dict[str, Any]:
        """Open everything and start the pipeline; where it runs and how many frames to expect."""
        quiet_opencv()
        args, cfg = self.args, self.cfg
        task = open_task(cfg, args)
        analytics_for(cfg.pipeline, "check", task.task)  # lines and zones need boxes
        self.source = source = open_source(args.input, fps=cfg.pipeline.folder_fps)
        self.push = open_push(args, cfg)
        self.pipeline = open_pipeline(source, task, cfg.pipeline, name=args.name,
                                      sinks=open_outputs(args, source, cfg),
                                      shared=[self.push] if self.push else [], max_frames=args.max_frames)
        self.started_at = time.monotonic()
        self.pipeline.start()
        total = source.frame_count if not source.live else None
        if total and args.max_frames:
            total = min(total, args.max_frames)
        self.node = str(import_ray().get_runtime_context().get_node_id())
        return {"name": args.name, "total": total, "live": source.live, "node": self.node}

    def progress(self) -> dict[str, Any]:
        """Frames done, FPS, counts and whether the run has ended (and why, if it failed)."""
        p = self.pipeline
        if p is None:
            return {"frames": 0, "fps": 0.0, "done": False, "error": None, "counts": {}}
        return {"frames": p.frames_out, "fps": p.stats["fps"], "counts": dict(p.stats["counts"]),
                "done": not p.alive, "error": str(p.error) if p.error is not None else None}

    def stop(self) -> dict[str, Any]:
        """Stop (if still running), finalise the outputs, hand MQTT its queue; the run's summary."""
        p = self.pipeline
        if p is not None:
            p.stop()
            p.join(STOP_WAIT_S)
        return self.finish()

    def finish(self) -> dict[str, Any]:
        """Close the source and the push; the summary (frames, fps, totals, lines, MQTT, outputs)."""
        p, summary = self.pipeline, {"name": self.args.name, "node": self.node}
        if self.source is not None:
            self.source.close()
        mqtt = []
        if self.push is not None:  # shared with the pipeline, so not closed by it
            self.push.flush()
            mqtt.append(self.push.status())
            self.push.close()
            self.push = None
        if p is not None:
            p.join(STOP_WAIT_S)
            stats, counters = p.stats, p.counters()
            elapsed_s = max(time.monotonic() - self.started_at, 1e-6)
            summary.update(frames=counters["frames_out"], dropped=p.dropped, failed=counters["failed"],
                           fps=round(counters["frames_out"] / elapsed_s, 2),
                           totals=dict(stats["totals"]), lines=dict(stats["lines"]),
                           error=str(p.error) if p.error is not None else None,
                           outputs=[str(s.path) for s in p.sinks if hasattr(s, "path")])
        summary["mqtt"] = [{k: c[k] for k in ("broker", "sent", "dropped")} for c in mqtt]
        return summary
