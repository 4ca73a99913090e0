"""Server streams on the cluster (``serve --ray``): :class:`RayStreams` places a stream as a
:class:`~visioncast.scale.pipeline_actor.PipelineActor` (the one pipeline actor, ``run --ray``'s too) and
answers :class:`RayStream`, the thin proxy the server's stream registry keeps in its place. I/O: the cluster.

The proxy has the members of a :class:`~visioncast.pipeline.Pipeline` that the registry and the routes read
(name, mode, error, alive, stats, counters, sink status, recent events, start/stop/join), so the streams
list, the stop API, the pages and the dashboard are the same for both placements. A thread pulls the actor's
output every ``POLL_S`` and feeds the server's existing delivery: each result, statistics snapshot and event
goes to the server's bus (the one Dispatcher: MQTT push, /metrics) under the stream's name, and the newest
JPEG to the stream's MJPEG broadcaster — fetched on every pull while someone watches the MJPEG view, else
once every ``JPEG_IDLE_S`` (for ``frame.jpg``), so an unwatched stream costs no JPEG traffic.

Failures follow the one policy of :class:`~visioncast.scale.supervisor.Supervisor`: the actor's pipeline
failing fails the stream as it would locally; the actor lost (killed, its node gone, no answer within
its RPC timeout) is shown on the stream (``placement.last_loss``) and answered with a new actor, at most
``max_restarts`` times (``placement.restarts``). Stopping the stream stops the pipeline, forwards its last
events and kills the actor.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from typing import Any

from visioncast.analytics import StatsSnapshot, empty_snapshot
from visioncast.config import ModelsConfig, PipelineConfig
from visioncast.errors import SourceError, VisioncastError
from visioncast.pipeline import RECENT_EVENTS
from visioncast.scale.pipeline_actor import ActorOutputs
from visioncast.scale.supervisor import START_TIMEOUT_S, STOP_WAIT_S, PipelineActors, Spawn, Supervisor
from visioncast.sinks.bus import Dispatcher
from visioncast.sinks.mjpeg import MjpegBroadcaster
from visioncast.tasks.base import Task, TaskOptions

log = logging.getLogger(__name__)
POLL_S = 0.05  # between two pulls: 20 a second keeps the live view smooth; each is one small RPC
JPEG_IDLE_S = 1.0


class RayStream:
    """The server's side of one stream running as a pipeline actor (see the module docstring)."""

    def __init__(self, spawn: Spawn, source: str, cfg: PipelineConfig, *, label: str,
                 name: str | None, broadcaster: MjpegBroadcaster, bus: Dispatcher, max_restarts: int = 3,
                 start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.source, self.cfg, self.name = source, cfg, name or source
        self._broadcaster, self._bus = broadcaster, bus
        self.label = label
        self._sup = Supervisor(spawn, (source, cfg, name, ActorOutputs()), label=label,
                               what=f"stream {source!r}", max_restarts=max_restarts,
                               start_timeout_s=start_timeout_s, on_start=self._started)
        self.mode = cfg.mode
        self.error: VisioncastError | None = None
        self.stats: StatsSnapshot = empty_snapshot(self.name)
        self._counters: dict[str, int] = {}
        self._sink_status: dict[str, dict[str, Any]] = {}
        self._lost_before = self._lost_now = 0
        self._jpeg_seq, self._jpeg_at = 0, 0.0
        self._events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the registry reads -------------------------------------------------------------------------
    @property
    def restarts(self) -> int:
        return self._sup.restarts

    @property
    def max_restarts(self) -> int:
        return self._sup.max_restarts

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def counters(self) -> dict[str, int]:
        """The actor's pipeline counters, + ``lost`` (results dropped on the node before a pull) and
        ``restarts``."""
        with self._lock:
            return {**self._counters, "lost": self._lost_before + self._lost_now, "restarts": self.restarts}

    def sink_status(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return dict(self._sink_status)

    def recent_events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def placement(self) -> dict[str, Any]:
        """Where the stream runs: node and actor, restarts so far and their bound, the last loss."""
        sup = self._sup
        return {"where": "ray", "node": sup.node, "actor": sup.actor_name, "restarts": sup.restarts,
                "max_restarts": sup.max_restarts, "last_loss": sup.last_loss}

    # -- control -----------------------------------------------------------------------------------------
    def start(self) -> RayStream:
        """Start the actor (the source opens there) and the pull thread. The errors of a local start
        (SourceError, ModelError, …); ModelError when no node takes the actor within ``start_timeout_s``."""
        self._sup.launch()
        self._thread = threading.Thread(target=self._guard, name=f"visioncast-ray-{self.label}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the stream to end: the pipeline stops, its last events are forwarded, the actor is killed."""
        self._stop.set()

    def join(self, timeout_s: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.alive

    # -- the pull thread ---------------------------------------------------------------------------------
    def _started(self, info: dict[str, Any]) -> None:
        """A (new) actor runs the stream: its name and mode; the counts of a lost one are kept."""
        with self._lock:
            self.name, self.mode = info["name"], info["mode"]
            self._jpeg_seq, self._jpeg_at = 0, 0.0
            self._lost_before, self._lost_now = self._lost_before + self._lost_now, 0

    def _guard(self) -> None:
        try:
            self._follow()
        except VisioncastError as exc:
            self.error = self.error or exc
        except Exception as exc:  # the thread is ending: show why on the stream instead of a dead proxy
            log.exception("stream %s: its proxy failed", self.name)
            self.error = self.error or VisioncastError(f"the stream's proxy failed: {type(exc).__name__}: "
                                                       f"{exc}")
        finally:
            self._sup.kill()
            self._broadcaster.close()  # the stream is over: end its viewers' connections, as a local one does

    def _follow(self) -> None:
        """Pull and feed until the run ends, the stream is stopped or the losses are more than allowed."""
        while not self._stop.is_set():
            answer = self._sup.call("pull", self._jpeg_wanted())
            if answer is None:  # lost, and a new actor runs it
                continue
            self.feed(answer)
            if answer["done"]:
                if answer["error"]:
                    self.error = SourceError(answer["error"])
                return
            self._stop.wait(POLL_S)
        self._finish()

    def _jpeg_wanted(self) -> int | None:
        """The sequence number of the JPEG the server has, when a newer one is wanted; else None."""
        if self._broadcaster.viewers > 0 or time.monotonic() - self._jpeg_at >= JPEG_IDLE_S:
            return self._jpeg_seq
        return None

    def feed(self, answer: dict[str, Any]) -> None:
        """One pull's answer into the server's delivery: the bus, the broadcaster, the stream's status."""
        for shipped in answer["deliveries"]:
            self._bus.deliver(shipped.to_delivery(self.name))
            with self._lock:
                self._events.extend(shipped.events)
        if answer["jpeg"]:
            self._broadcaster.publish_jpeg(answer["jpeg"])
            self._jpeg_seq, self._jpeg_at = answer["jpeg_seq"], time.monotonic()
        with self._lock:
            self.stats = answer["stats"]
            self._counters, self._sink_status = answer["counters"], answer["sink_status"]
            self._lost_now = answer["lost"]

    def _finish(self) -> None:
        """Stopped: stop the pipeline on the node and forward what it produced last (its final events)."""
        if self._sup.stop() is None:
            return
        deadline = time.monotonic() + STOP_WAIT_S  # a loaded node may take longer than its stop waited
        while (answer := self._sup.once("pull", None)) is not None:
            self.feed(answer)
            if answer["done"] or time.monotonic() > deadline:
                return
            time.sleep(POLL_S)


class RayStreams:
    """Places streams on the cluster (the registry's ``placer`` under ``serve --ray``). Thread-safe.

    ``models``: the server's engine settings, used on the nodes; ``actor_cpus``: what each stream actor
    reserves (its engine gets as many threads); ``max_restarts``: actors a stream may lose."""

    def __init__(self, models: ModelsConfig, *, actor_cpus: float = 1.0, max_restarts: int = 3,
                 start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.actors = PipelineActors(models, actor_cpus=actor_cpus)
        self.actor_cpus, self.max_restarts, self.start_timeout_s = actor_cpus, max_restarts, start_timeout_s
        self._prefix = f"visioncast-stream-{secrets.token_hex(3)}"  # several servers may share a cluster

    def place(self, source: str, task: Task, cfg: PipelineConfig, *, stream_id: str, name: str | None,
              broadcaster: MjpegBroadcaster, bus: Dispatcher,
              task_options: TaskOptions | None = None) -> RayStream:
        """Stream ``stream_id`` started on the cluster (its source open on its node), feeding ``bus`` and
        ``broadcaster``; the errors of :meth:`RayStream.start`."""
        stream = RayStream(self.actors.spawner(task, task_options), source, cfg,
                           label=f"{self._prefix}-{stream_id}", name=name, broadcaster=broadcaster, bus=bus,
                           max_restarts=self.max_restarts, start_timeout_s=self.start_timeout_s)
        return stream.start()

    def close(self) -> None:
        """Forget the model bytes (the streams are stopped by the registry first)."""
        self.actors.close()
