"""Server streams on the cluster (``serve --ray``): :class:`RayStreams` places a stream as a
:class:`~visioncast.scale.stream_actor.StreamActor` and answers :class:`RayStream`, the thin proxy the
server's stream registry keeps in its place. I/O: the cluster.

The proxy has the members of a :class:`~visioncast.pipeline.Pipeline` that the registry and the routes read
(name, mode, error, alive, stats, counters, sink status, recent events, start/stop/join), so the streams
list, the stop API, the pages and the dashboard are the same for both placements. A thread pulls the actor's
output every ``POLL_S`` and feeds the server's existing delivery: each result, statistics snapshot and event
goes to the server's bus (the one Dispatcher: MQTT push, /metrics) under the stream's name, and the newest
JPEG to the stream's MJPEG broadcaster — fetched on every pull while someone watches the MJPEG view, else
once every ``JPEG_IDLE_S`` (for ``frame.jpg``), so an unwatched stream costs no JPEG traffic.

Failures: the actor's pipeline failing (its source lost, a broken model) fails the stream as it would
locally. The actor itself dying (its process killed, its node lost) or not answering within
``RPC_TIMEOUT_S`` is a *loss*: it is shown on the stream (``placement.last_loss``) and answered with a new
actor, at most ``max_restarts`` times (``placement.restarts``); one loss more fails the stream with the loss
as its error. A new actor opens the source again: a camera or network stream goes on live, a file plays
from its start, and tracking and totals start afresh. Stopping the stream stops the pipeline, forwards its
last events and kills the actor.
"""

from __future__ import annotations

import copy
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from visioncast.analytics import StatsSnapshot, empty_snapshot
from visioncast.config import ModelsConfig, PipelineConfig
from visioncast.errors import ModelError, SourceError, VisioncastError
from visioncast.models.registry import find_model
from visioncast.pipeline import RECENT_EVENTS
from visioncast.scale.cluster import import_ray
from visioncast.scale.stream_actor import StreamActor
from visioncast.sinks.bus import Dispatcher
from visioncast.sinks.mjpeg import MjpegBroadcaster
from visioncast.tasks.base import Task

log = logging.getLogger(__name__)
POLL_S = 0.05  # between two pulls: 20 a second keeps the live view smooth; each is one small RPC
JPEG_IDLE_S = 1.0
RPC_TIMEOUT_S = 10.0
START_TIMEOUT_S = 60.0  # a node must take the actor, load the model and open the source within this
STOP_WAIT_S = 5.0


class RayStream:
    """The server's side of one stream running as a StreamActor (see the module docstring)."""

    def __init__(self, spawn: Callable[[str], Any], source: str, cfg: PipelineConfig, *, label: str,
                 name: str | None, broadcaster: MjpegBroadcaster, bus: Dispatcher, max_restarts: int = 3,
                 start_timeout_s: float = START_TIMEOUT_S) -> None:
        self._spawn, self.source, self.cfg, self.label = spawn, source, cfg, label
        self._requested_name, self.name = name, name or source
        self._broadcaster, self._bus = broadcaster, bus
        self.max_restarts, self.start_timeout_s = max_restarts, start_timeout_s
        self.mode = cfg.mode
        self.error: VisioncastError | None = None
        self.stats: StatsSnapshot = empty_snapshot(self.name)
        self.restarts = 0
        self.last_loss: str | None = None
        self.node = self.actor_name = ""
        self._actor: Any = None
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
        return {"where": "ray", "node": self.node, "actor": self.actor_name, "restarts": self.restarts,
                "max_restarts": self.max_restarts, "last_loss": self.last_loss}

    # -- control -----------------------------------------------------------------------------------------
    def start(self) -> RayStream:
        """Start the actor (the source opens there) and the pull thread. The errors of a local start
        (SourceError, ModelError, …); ModelError when no node takes the actor within ``start_timeout_s``."""
        self._launch()
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
    def _launch(self, restarts: int = 0) -> None:
        """A new actor for the stream, started (its source open; ``restarts``: the count once it is), or the
        reason it could not be."""
        ray = import_ray()
        name = f"{self.label}-{restarts}"
        actor = self._spawn(name)
        try:
            info = ray.get(actor.start.remote(self.source, self.cfg, self._requested_name),
                           timeout=self.start_timeout_s)
        except ray.exceptions.GetTimeoutError as exc:
            ray.kill(actor, no_restart=True)
            raise ModelError(f"no Ray node took stream {self.source!r} within {self.start_timeout_s:g} s "
                             "(does the cluster have the CPUs a stream actor asks for free?)") from exc
        except ray.exceptions.RayTaskError as exc:
            ray.kill(actor, no_restart=True)
            if isinstance(exc.cause, VisioncastError):
                raise exc.cause from exc
            raise ModelError(f"stream {self.source!r} failed to start on its node: {exc.cause}") from exc
        except ray.exceptions.RayActorError as exc:
            raise ModelError(f"stream {self.source!r}: its actor died while starting: "
                             f"{str(exc).splitlines()[0]}") from exc
        with self._lock:
            self._actor, self.actor_name, self.node, self.restarts = actor, name, info["node"], restarts
            self.name, self.mode = info["name"], info["mode"]
            self._jpeg_seq, self._jpeg_at = 0, 0.0

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
            self._kill()
            self._broadcaster.close()  # the stream is over: end its viewers' connections, as a local one does

    def _follow(self) -> None:
        """Pull and feed until the run ends, the stream is stopped or the losses are more than allowed."""
        ray = import_ray()
        lost = (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError)
        while not self._stop.is_set():
            try:
                answer = ray.get(self._actor.pull.remote(self._jpeg_wanted()), timeout=RPC_TIMEOUT_S)
            except lost as exc:
                self._recover(exc)
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

    def _recover(self, exc: BaseException) -> None:
        """The actor is lost: a new one while restarts are left, else the stream fails with the loss."""
        why = f"actor {self.actor_name} on node {self.node[:8]} lost: {type(exc).__name__}"
        log.warning("stream %s: %s (%d of %d restarts used)", self.name, why, self.restarts,
                    self.max_restarts)
        self._kill()
        with self._lock:
            self.last_loss = why
            self._lost_before, self._lost_now = self._lost_before + self._lost_now, 0
        if self.restarts >= self.max_restarts:
            raise SourceError(f"stream {self.name!r}: {why}; no restart left ({self.max_restarts} used)")
        self._launch(self.restarts + 1)

    def _finish(self) -> None:
        """Stopped: stop the pipeline on the node and forward what it produced last (its final events)."""
        ray = import_ray()
        try:
            ray.get(self._actor.stop.remote(), timeout=STOP_WAIT_S)
            self.feed(ray.get(self._actor.pull.remote(None), timeout=RPC_TIMEOUT_S))
        except (ray.exceptions.RayError, TimeoutError) as exc:
            log.warning("stream %s: its last results were not fetched: %s", self.name, type(exc).__name__)

    def _kill(self) -> None:
        actor, self._actor = self._actor, None
        if actor is not None:
            ray = import_ray()
            try:
                ray.kill(actor, no_restart=True)
            except ray.exceptions.RayError as exc:  # already gone with its node
                log.debug("stream %s: kill: %s", self.name, exc)


class RayStreams:
    """Places streams on the cluster (the registry's ``placer`` under ``serve --ray``). Thread-safe.

    ``models``: the server's engine settings, used on the nodes; ``actor_cpus``: what each stream actor
    reserves (its engine gets as many threads); ``max_restarts``: actors a stream may lose."""

    def __init__(self, models: ModelsConfig, *, actor_cpus: float = 1.0, max_restarts: int = 3,
                 start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.models, self.actor_cpus, self.max_restarts = models, actor_cpus, max_restarts
        self.start_timeout_s = start_timeout_s
        self._model_refs: dict[str, Any] = {}  # model bytes put in the object store once per model
        self._lock = threading.Lock()
        self._prefix = f"visioncast-stream-{secrets.token_hex(3)}"  # several servers may share a cluster

    def place(self, source: str, task: Task, cfg: PipelineConfig, *, stream_id: str, name: str | None,
              broadcaster: MjpegBroadcaster, bus: Dispatcher) -> RayStream:
        """Stream ``stream_id`` started on the cluster (its source open on its node), feeding ``bus`` and
        ``broadcaster``; the errors of :meth:`RayStream.start`."""
        ray = import_ray()
        shipped = copy.copy(task)  # the task's settings travel; its runtime (a session, a Serve handle) not
        shipped.runtime = None  # type: ignore[assignment]
        model = self._model_ref(ray, task.name)
        actor_class = ray.remote(num_cpus=self.actor_cpus, max_restarts=0)(StreamActor)
        threads = max(1, round(self.actor_cpus))
        models = self.models

        def spawn(actor_name: str) -> Any:
            return actor_class.options(name=actor_name, scheduling_strategy="SPREAD").remote(
                shipped, model, engine=models.engine, device=models.device, precision=models.precision,
                threads=threads)

        stream = RayStream(spawn, source, cfg, label=f"{self._prefix}-{stream_id}", name=name,
                           broadcaster=broadcaster, bus=bus, max_restarts=self.max_restarts,
                           start_timeout_s=self.start_timeout_s)
        return stream.start()

    def _model_ref(self, ray: Any, model: str) -> Any:
        with self._lock:
            if model not in self._model_refs:
                info = find_model(model, Path(self.models.cache_dir))  # as Services finds it
                self._model_refs[model] = ray.put(info.path.read_bytes())
            return self._model_refs[model]

    def close(self) -> None:
        """Forget the model bytes (the streams are stopped by the registry first)."""
        with self._lock:
            self._model_refs.clear()
