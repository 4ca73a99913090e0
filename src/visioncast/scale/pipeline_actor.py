"""The one pipeline actor on a Ray node, for ``run --ray``'s sources and ``serve --ray``'s streams:
:class:`PipelineActor` runs the one :class:`~visioncast.pipeline.Pipeline` there. I/O: the source, the model's
engine, the outputs it is asked for.

Its driver (:mod:`visioncast.scale.supervisor`) creates it with the task stripped of its runtime and the
model file's bytes, as :class:`~visioncast.scale.deployment.ModelReplica` gets them (no node needs the file);
the actor opens a local engine on them with the CPUs it reserved, opens the source and runs the pipeline
(decoding, inference, tracking, drawing) with the outputs of :class:`ActorOutputs`:

* a server stream: an :class:`Outbox` (results, statistics and events, without pixels) and an
  :class:`~visioncast.sinks.mjpeg.MjpegBroadcaster` whose newest JPEG the server asks for only when it wants
  one; nothing is published from the node (the server feeds what it pulls into its own delivery);
* a ``run`` source: its annotated video and JSON lines on the node's disk and its MQTT push from the node.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visioncast.config import MqttConfig, PipelineConfig
from visioncast.core.types import Frame, Result
from visioncast.pipeline import Pipeline
from visioncast.pipeline.build import open_pipeline
from visioncast.runtimes import open_runtime, replica_engine
from visioncast.scale.cluster import import_ray
from visioncast.sinks import Sink, open_mqtt_sink
from visioncast.sinks.bus import Delivery
from visioncast.sinks.jsonl import JsonlSink
from visioncast.sinks.mjpeg import MjpegBroadcaster
from visioncast.sinks.video import VideoFileSink
from visioncast.sources import open_source
from visioncast.tasks.base import Task, TaskOptions

if TYPE_CHECKING:
    from visioncast.sinks.mqtt import MqttSink

OUTBOX_SIZE = 2000  # deliveries kept between two pulls (minutes of video); past it the oldest are dropped
STOP_WAIT_S = 3.0
CONNECT_WAIT_S = 3.0  # how long a run's actor waits for the MQTT broker before reading the source
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



@dataclass(frozen=True)
class ActorOutputs:
    """What a pipeline actor delivers to: ``stream`` (an Outbox and the newest JPEG for the server's pulls),
    ``video`` and ``jsonl`` files on the node, an MQTT push of ``mqtt`` from the node; ``max_frames``: stop
    after that many."""

    stream: bool = True
    video: str | None = None
    jsonl: str | None = None
    mqtt: MqttConfig | None = None
    max_frames: int | None = None


class PipelineActor:
    """One pipeline on a Ray node: the task on a local engine, then :meth:`start` one source."""

    def __init__(self, task: Task, model_bytes: bytes, *, engine: str = "onnxruntime", device: str = "CPU",
                 precision: str = "f32", threads: int = 1, task_options: TaskOptions | None = None) -> None:
        digest = hashlib.sha256(model_bytes).hexdigest()[:16]
        self._dir = tempfile.TemporaryDirectory(prefix="visioncast-actor-")
        path = Path(self._dir.name) / f"{digest}.onnx"
        path.write_bytes(model_bytes)
        task.runtime = open_runtime(path, replica_engine(engine), device=device, precision=precision,
                                    threads=threads)
        self.task, self.task_options = task, task_options
        self.outbox: Outbox | None = None
        self.broadcaster: MjpegBroadcaster | None = None
        self.push: MqttSink | None = None
        self.pipeline: Pipeline | None = None
        self.node = ""
        self.started_at = time.monotonic()

    def start(self, source: str, cfg: PipelineConfig, name: str | None,
              outputs: ActorOutputs | None = None) -> dict[str, Any]:
        """Open ``source`` and the outputs, start the pipeline; its name, mode, node, frames to expect."""
        out = outputs or ActorOutputs()
        src = open_source(source, fps=cfg.folder_fps)
        sinks: list[Sink] = []
        if out.stream:
            self.broadcaster, self.outbox = MjpegBroadcaster(quality=cfg.jpeg_quality), Outbox()
            sinks += [self.broadcaster, self.outbox]
        if out.video:
            sinks.append(VideoFileSink(out.video, fps=src.fps, still=bool(getattr(src, "still", False))))
        if out.jsonl:
            sinks.append(JsonlSink(out.jsonl))
        if out.mqtt is not None:
            self.push = open_mqtt_sink(out.mqtt, wait_s=CONNECT_WAIT_S)
        self.pipeline = open_pipeline(src, self.task, cfg, name=name, sinks=sinks,
                                      shared=[self.push] if self.push else [], max_frames=out.max_frames,
                                      task_options=self.task_options)
        self.started_at = time.monotonic()
        self.pipeline.start()
        total = src.frame_count if not src.live else None
        if total and out.max_frames:
            total = min(total, out.max_frames)
        self.node = str(import_ray().get_runtime_context().get_node_id())
        return {"name": self.pipeline.name, "mode": self.pipeline.mode, "node": self.node, "total": total,
                "live": src.live}

    def pull(self, jpeg_after: int | None = None) -> dict[str, Any]:
        """What the pipeline produced since the last pull and where it stands. ``jpeg_after``: the sequence
        number of the newest JPEG the server has; a newer one comes along (None: no JPEG wanted)."""
        p, b = self.pipeline, self.broadcaster
        if p is None:
            raise RuntimeError("pull() before start()")  # the driver always starts first: a bug, not input
        done = not p.alive  # before taking: once every stage has ended, the outbox holds all there is
        jpeg, seq = None, jpeg_after or 0
        if jpeg_after is not None and b is not None:
            latest, latest_seq = b.latest_jpeg()
            if latest and latest_seq > jpeg_after:
                jpeg, seq = latest, latest_seq
        box = self.outbox
        return {"deliveries": box.take() if box else [], "lost": box.lost if box else 0, "jpeg": jpeg,
                "jpeg_seq": seq, "stats": dict(p.stats), "counters": p.counters(),
                "sink_status": p.sink_status(), "done": done,
                "error": str(p.error) if p.error is not None else None}

    def stop(self) -> dict[str, Any]:
        """Stop the pipeline, wait (at most STOP_WAIT_S) until its last events are delivered, hand the MQTT
        push its queue; the run's summary (frames, fps, totals, lines, outputs, MQTT, error)."""
        p = self.pipeline
        summary: dict[str, Any] = {"node": self.node}
        if p is None:
            return summary
        p.stop()
        p.join(STOP_WAIT_S)
        mqtt = []
        if self.push is not None:  # shared with the pipeline, so not closed by it
            self.push.flush()
            self.push.close()  # what the broker has not acknowledged by now is counted as lost
            mqtt.append(self.push.status())
            self.push = None
        stats, counters = p.stats, p.counters()
        elapsed_s = max(time.monotonic() - self.started_at, 1e-6)
        summary.update(name=p.name, frames=counters["frames_out"], dropped=p.dropped,
                       failed=counters["failed"], fps=round(counters["frames_out"] / elapsed_s, 2),
                       totals=dict(stats["totals"]),
                       lines=dict(stats["lines"]), error=str(p.error) if p.error is not None else None,
                       outputs=[str(s.path) for s in p.sinks if isinstance(s, VideoFileSink | JsonlSink)],
                       mqtt=[{k: c[k] for k in ("broker", "sent", "dropped")} for c in mqtt])
        return summary
