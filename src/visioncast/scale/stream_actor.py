"""A server stream on a Ray node (``serve --ray``): :class:`StreamActor` runs the one
:class:`~visioncast.pipeline.Pipeline` there and keeps what it produces until the server pulls it. I/O: the
source, the model's engine.

The server (:mod:`visioncast.scale.stream`) creates the actor with the stream's task stripped of its runtime
and the model file's bytes, as :class:`~visioncast.scale.deployment.ModelReplica` gets them (no node needs
the file); the actor opens a local engine on them with the CPUs it reserved, opens the source and runs the
pipeline (decoding, inference, tracking, drawing) with two sinks of its own: an :class:`Outbox` (results,
statistics and events, without pixels) and an :class:`~visioncast.sinks.mjpeg.MjpegBroadcaster` whose newest
JPEG the server asks for only when it wants one. Nothing is published from the node: the server feeds what
it pulls into its own delivery, so no worker needs to reach the MQTT broker.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from visioncast.config import PipelineConfig
from visioncast.core.types import Frame, Result
from visioncast.pipeline import Pipeline
from visioncast.pipeline.build import open_pipeline
from visioncast.runtimes import open_runtime
from visioncast.scale.cluster import import_ray
from visioncast.sinks.bus import Delivery
from visioncast.sinks.mjpeg import MjpegBroadcaster
from visioncast.tasks.base import Task

OUTBOX_SIZE = 2000  # deliveries kept between two pulls (minutes of video); past it the oldest are dropped
STOP_WAIT_S = 3.0
_BLACK = np.zeros((1, 1, 3), np.uint8)


@dataclass(frozen=True)
class Shipped:
    """One delivery without its pixels: what crosses from the node to the server (``result`` None: the
    events at the end of the stream)."""

    result: Result | None
    index: int = 0
    timestamp_s: float = 0.0
    stats: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_delivery(cls, delivery: Delivery) -> Shipped:
        frame = delivery.frame
        return cls(delivery.result, frame.index if frame else 0, frame.timestamp_s if frame else 0.0,
                   delivery.stats, list(delivery.events))

    def to_delivery(self, source: str) -> Delivery:
        """The delivery for the server's bus, under ``source``: the frame keeps its index and media time; its
        image has the frame's size but no pixels (a read-only view of one black pixel: they stayed on the
        node, and the server's bus sinks read only the index and time)."""
        frame = None
        if self.result is not None:
            blank = np.broadcast_to(_BLACK, (self.result.height, self.result.width, 3))
            frame = Frame(blank, self.index, self.timestamp_s, source)
        return Delivery(source, self.result, frame, None, self.stats, list(self.events))


class Outbox:
    """A sink that keeps deliveries (without pixels) until :meth:`take`; at most ``size``, the oldest
    dropped first and counted in ``lost``. Thread-safe."""

    needs_image = False

    def __init__(self, size: int = OUTBOX_SIZE) -> None:
        self._items: deque[Shipped] = deque()
        self._lock = threading.Lock()
        self.size = size
        self.lost = 0

    def deliver(self, delivery: Delivery) -> None:
        shipped = Shipped.from_delivery(delivery)
        with self._lock:
            if len(self._items) >= self.size:
                self._items.popleft()
                self.lost += 1
            self._items.append(shipped)

    def take(self) -> list[Shipped]:
        """Everything kept so far, oldest first; the outbox is empty afterwards."""
        with self._lock:
            items, self._items = list(self._items), deque()
        return items

    def close(self) -> None:
        """Nothing to finish: the server takes what is left with its last pull."""


class StreamActor:
    """One server stream on a Ray node: the task on a local engine, then :meth:`start` one source."""

    def __init__(self, task: Task, model_bytes: bytes, *, engine: str = "onnxruntime", device: str = "CPU",
                 precision: str = "f32", threads: int = 1) -> None:
        digest = hashlib.sha256(model_bytes).hexdigest()[:16]
        self._dir = tempfile.TemporaryDirectory(prefix="visioncast-stream-")
        path = Path(self._dir.name) / f"{digest}.onnx"
        path.write_bytes(model_bytes)
        task.runtime = open_runtime(path, engine, device=device, precision=precision, threads=threads)
        self.task = task
        self.outbox = Outbox()
        self.broadcaster: MjpegBroadcaster | None = None
        self.pipeline: Pipeline | None = None

    def start(self, source: str, cfg: PipelineConfig, name: str | None) -> dict[str, Any]:
        """Open ``source`` and start the pipeline; its name, mode and the node it runs on."""
        self.broadcaster = MjpegBroadcaster(quality=cfg.jpeg_quality)
        self.pipeline = open_pipeline(source, self.task, cfg, name=name,
                                      sinks=[self.broadcaster, self.outbox])
        self.pipeline.start()
        node = str(import_ray().get_runtime_context().get_node_id())
        return {"name": self.pipeline.name, "mode": self.pipeline.mode, "node": node}

    def pull(self, jpeg_after: int | None = None) -> dict[str, Any]:
        """What the pipeline produced since the last pull and where it stands. ``jpeg_after``: the sequence
        number of the newest JPEG the server has; a newer one comes along (None: no JPEG wanted)."""
        p, b = self.pipeline, self.broadcaster
        if p is None or b is None:
            raise RuntimeError("pull() before start()")  # the server always starts first: a bug, not input
        done = not p.alive  # before taking: once every stage has ended, the outbox holds all there is
        jpeg, seq = None, jpeg_after or 0
        if jpeg_after is not None:
            latest, latest_seq = b.latest_jpeg()
            if latest and latest_seq > jpeg_after:
                jpeg, seq = latest, latest_seq
        return {"deliveries": self.outbox.take(), "lost": self.outbox.lost, "jpeg": jpeg, "jpeg_seq": seq,
                "stats": dict(p.stats), "counters": p.counters(), "sink_status": p.sink_status(),
                "done": done, "error": str(p.error) if p.error is not None else None}

    def stop(self) -> None:
        """Stop the pipeline and wait (at most STOP_WAIT_S) until its last events are in the outbox."""
        if self.pipeline is not None:
            self.pipeline.stop()
            self.pipeline.join(STOP_WAIT_S)
