"""The one delivery bus: the Sink protocol, what a sink receives (:class:`Delivery`) and the
:class:`Dispatcher` that fans each delivery out to every sink. No I/O of its own.

Every channel (the HTTP API, video jobs, streams, ``visioncast run``) hands its results to a Dispatcher, never
to a sink directly. Each sink call is isolated: an exception of any kind is caught, counted for that sink,
logged with its traceback the first time that sink fails with that kind (later ones at debug level), and
the next sink still gets the delivery. So a failing sink (a bad push template, a full disk) never kills the
pipeline thread or turns the request that produced the result into a 500; its failures show in
:meth:`Dispatcher.status` (job and stream status, ``/metrics``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from visioncast.core.types import Frame, Result
from visioncast.errors import VisioncastError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What a channel produced for one frame, or (``result`` None) the events at the end of a stream.

    ``frame``: the input with its per-source index and timestamp (media time for files and streams, Unix
    time for API requests); ``annotated``: the drawn image, only when a sink ``needs_image``; ``stats``: the
    stream's statistics snapshot (None outside pipelines); ``events``: analytics events of this frame."""

    source: str
    result: Result | None = None
    frame: Frame | None = None
    annotated: np.ndarray | None = None
    stats: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


@runtime_checkable
class Sink(Protocol):
    """Consumes deliveries: MQTT, JSON lines, video file, MJPEG, a job's results. ``needs_image``: wants the
    annotated image (drawing costs time, so it is only made when a sink asks). ``deliver`` must not block
    for long (a slow medium queues internally)."""

    @property
    def needs_image(self) -> bool:
        """Whether the sink wants the annotated image."""
        ...

    def deliver(self, delivery: Delivery) -> None:
        """Consume one delivery; may raise (the dispatcher isolates it)."""
        ...

    def close(self) -> None:
        """Finish (finalise files, disconnect)."""
        ...


@dataclass
class _Failures:
    count: int = 0
    last_error: str = ""
    kinds: set[str] = field(default_factory=set)
    by_source: dict[str, int] = field(default_factory=dict)


class Dispatcher:
    """Fans deliveries out to its sinks, each call isolated (see the module docstring). Thread-safe.

    ``sinks`` belong to the dispatcher (:meth:`close` closes them); ``shared`` sinks outlive it (the
    server's MQTT sink serves every stream and request; ``run`` flushes its MQTT sink before closing it):
    they get every delivery but are never closed here. A Dispatcher is itself a Sink, so a channel's bus can
    feed the server's."""

    def __init__(self, sinks: Iterable[Sink] = (), *, shared: Iterable[Sink] = ()) -> None:
        self._lock = threading.Lock()
        self._sinks: list[Sink] = list(sinks)
        self._shared: list[Sink] = list(shared)
        self._failures: dict[str, _Failures] = {}

    @property
    def sinks(self) -> list[Sink]:
        """Every sink, own then shared."""
        with self._lock:
            return [*self._sinks, *self._shared]

    @property
    def needs_image(self) -> bool:
        return any(sink.needs_image for sink in self.sinks)

    def add(self, sink: Sink) -> None:
        with self._lock:
            self._sinks.append(sink)

    def remove(self, sink: Sink) -> None:
        with self._lock:
            for sinks in (self._sinks, self._shared):
                if sink in sinks:
                    sinks.remove(sink)

    def deliver(self, delivery: Delivery) -> None:
        """Hand ``delivery`` to every sink; a sink's exception is counted and logged, never raised."""
        for sink in self.sinks:
            try:
                sink.deliver(delivery)
            except Exception as exc:  # noqa: BLE001 — the per-sink guard: a failure stays with its sink
                self._failed(sink, "deliver", exc, delivery.source)

    def close(self) -> None:
        """Close the dispatcher's own sinks (each isolated like ``deliver``), not the shared ones."""
        with self._lock:
            own = list(self._sinks)
        for sink in own:
            try:
                sink.close()
            except Exception as exc:  # noqa: BLE001 — the per-sink guard, as in deliver
                self._failed(sink, "close", exc)

    def _failed(self, sink: Sink, action: str, exc: Exception, source: str = "") -> None:
        name, kind = type(sink).__name__, type(exc).__name__
        with self._lock:
            failures = self._failures.setdefault(name, _Failures())
            failures.count += 1
            failures.by_source[source] = failures.by_source.get(source, 0) + 1
            failures.last_error = f"{kind}: {exc}"
            first = kind not in failures.kinds
            failures.kinds.add(kind)
        if first:  # an expected failure (a visioncast error) in one line; anything else is a bug: traceback
            log.error("sink %s failed to %s (%s; later %s failures of this sink are counted, logged at debug "
                      "level)", name, action, failures.last_error, kind,
                      exc_info=None if isinstance(exc, VisioncastError) else exc)
        else:
            log.debug("sink %s failed to %s: %s", name, action, failures.last_error)

    @property
    def failed(self) -> int:
        """Failed sink calls, all sinks together."""
        with self._lock:
            return sum(f.count for f in self._failures.values())

    def status(self, source: str | None = None) -> dict[str, dict[str, Any]]:
        """Per failing sink (by class name): {"failed": count, "last_error": "ValueError: …", "by_source":
        {source: count}}; with ``source``, only that source's failures (a stream's share of a shared bus)."""
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for name, f in sorted(self._failures.items()):
                counts = dict(f.by_source) if source is None else {source: f.by_source.get(source, 0)}
                if sum(counts.values()):
                    out[name] = {"failed": sum(counts.values()), "last_error": f.last_error,
                                 "by_source": counts}
        return out
