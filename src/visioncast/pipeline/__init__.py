"""The edge pipeline: Source → Task → Analytics → Sinks on four threads joined by bounded queues. I/O.

Stages overlap so the model never waits for decoding, drawing or encoding:

1. **read**: pull frames from the source (and, in every-frame mode, ``task.prepare`` them for the model);
2. **infer**: run the model — several frames in flight on the runtime's async queue (OpenVINO's infer
   requests, onnxruntime's one-thread-per-call workers), re-ordered so results leave in frame order;
3. **post**: ``task.postprocess``, then tracking and statistics (:class:`~visioncast.analytics.Analytics`)
   and drawing;
4. **output**: one :class:`~visioncast.sinks.Delivery` per frame to the :class:`~visioncast.sinks.Dispatcher`
   (video file, JSON lines, MJPEG, MQTT, a job's results), each sink isolated.

The pipeline only calls the task's stages, so it runs any :class:`~visioncast.tasks.base.Task` (detect,
classify, …); tracking, lines and zones apply to detections only (see ``analytics/stats.py``).

**every-frame** mode (files, the default for them) blocks the reader when the queues are full, so every frame
is processed. **latest-frame** mode (live sources) keeps only the newest frame waiting for the model: a frame
that is replaced before the model takes it is *stale*, skipped and counted. A frame that fails in a stage is
counted and logged (``failed``). A sink's failure stays with the sink (counted in ``sink_errors`` and
:meth:`Pipeline.sink_status`, never a dead thread). An error of the visioncast tree (a broken model, a lost
source) or any exception escaping a stage (its thread would be gone) stops the run: the other stages stop
waiting for it, and :meth:`Pipeline.run` raises it. ``stop()`` (Ctrl-C) drains the queues and closes the
sinks, so files are finalised.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from visioncast.analytics import Analytics, StatsSnapshot, empty_snapshot
from visioncast.core.types import Frame, Result
from visioncast.errors import InputError, VisioncastError
from visioncast.lang import LANGS
from visioncast.overlay import draw_frame
from visioncast.pipeline.infer import infer_loop
from visioncast.pipeline.marker import END
from visioncast.sinks.bus import Delivery, Dispatcher, Sink
from visioncast.sources import Source
from visioncast.tasks.base import Prepared, Task, TaskOptions

log = logging.getLogger(__name__)
RECENT_EVENTS = 50  # events a pipeline keeps for its API and dashboard (MQTT and JSON lines get them all)

MODES = ("auto", "every", "latest")
_POLL_S = 0.2


@dataclass(frozen=True)
class PipelineOptions:
    """mode: auto (latest for live sources, every otherwise) | every | latest; queue_size bounds each queue;
    async_jobs: OpenVINO requests in flight (0 = the plugin's optimum); max_frames stops after that many;
    realtime: a file or folder is read no faster than its frames' timestamps (live sources are anyway);
    lang: the language of the text drawn on frames (zh | en: its viewer's)."""

    mode: str = "auto"
    queue_size: int = 4
    async_jobs: int = 0
    max_frames: int | None = None
    realtime: bool = False
    lang: str = "en"

    def __post_init__(self) -> None:
        if self.lang not in LANGS:
            raise InputError(f"the language of drawn frames must be {' or '.join(LANGS)}, got {self.lang!r}")
        if self.mode not in MODES:
            raise InputError(f"pipeline mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.queue_size < 1:
            raise InputError(f"queue_size must be at least 1, got {self.queue_size}")


@dataclass
class _Item:
    """One frame on its way through the stages."""

    frame: Frame
    t_read: float
    prepared: Prepared | None = None
    outputs: list[np.ndarray] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    result: Result | None = None
    annotated: np.ndarray | None = None
    stats: StatsSnapshot | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


class _Rate:
    """Frames per second and mean latency over the last ``window`` output frames (wall clock)."""

    def __init__(self, window: int = 30) -> None:
        self._t: deque[float] = deque(maxlen=window)
        self._lat: deque[float] = deque(maxlen=window)

    def add(self, now: float, latency_s: float) -> None:
        self._t.append(now)
        self._lat.append(latency_s)

    @property
    def fps(self) -> float:
        span = self._t[-1] - self._t[0] if len(self._t) > 1 else 0.0
        return (len(self._t) - 1) / span if span > 0 else 0.0

    @property
    def latency_ms(self) -> float:
        return 1000 * sum(self._lat) / len(self._lat) if self._lat else 0.0


class Pipeline:
    """One running stream. ``run()`` blocks until the source ends or ``stop()``; ``start()`` + ``join()`` for
    a background run. ``stats`` is the latest snapshot; ``counters()`` the run-time counters. ``sinks`` are
    closed at the end; ``shared`` sinks (the server's, an MQTT sink the caller flushes) only receive. The
    pipeline runs ``task.for_stream()`` (a task with per-stream state gets an instance of its own) with
    ``task_options`` on every frame."""

    def __init__(
        self,
        source: Source,
        task: Task,
        *,
        analytics: Analytics | None = None,
        sinks: Sequence[Sink] = (),
        shared: Sequence[Sink] = (),
        options: PipelineOptions | None = None,
        task_options: TaskOptions | None = None,
        on_frame: Callable[[StatsSnapshot, list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.source, self.task, self.task_options = source, task.for_stream(), task_options
        self.analytics = analytics or Analytics(source=source.name)
        self.bus = Dispatcher(sinks, shared=shared)
        self.options = options or PipelineOptions()
        mode = self.options.mode
        self.mode = ("latest" if source.live else "every") if mode == "auto" else mode
        self.on_frame = on_frame
        self.draw = self.bus.needs_image
        size = self.options.queue_size
        self.q_infer: queue.Queue[Any] = queue.Queue(1 if self.mode == "latest" else size)
        self.q_post: queue.Queue[Any] = queue.Queue(size)
        self._q_out: queue.Queue[Any] = queue.Queue(size)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._rate = _Rate()
        self._lock = threading.Lock()
        self.error: VisioncastError | None = None
        self.frames_in = self.frames_out = self.stale = self.failed = 0
        self.stats: StatsSnapshot = empty_snapshot(self.analytics.source)
        self.final_events: list[dict[str, Any]] = []
        self._recent_events: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)

    # -- control -------------------------------------------------------------------------------------------
    def start(self) -> Pipeline:

        stages = (
            ("read", self._read_loop),
            ("infer", lambda: infer_loop(self)),
            ("post", self._post_loop),
            ("output", self._output_loop),
        )
        for name, target in stages:
            t = threading.Thread(target=self._guard, args=(target, name), name=f"visioncast-{name}",
                                 daemon=True)
            self._threads.append(t)
            t.start()
        return self

    def _guard(self, target: Callable[[], None], stage: str) -> None:
        try:
            target()
        except VisioncastError as exc:
            self.fail(exc)
        except Exception as exc:  # the stage's thread is ending: stop the run instead of blocking the others
            log.exception("pipeline %s stage failed", stage)
            self.fail(VisioncastError(f"the pipeline's {stage} stage failed: {type(exc).__name__}: {exc}"))

    def fail(self, exc: VisioncastError) -> None:
        """Record the first fatal error and stop the run."""
        log.error("pipeline stopped: %s", exc)
        with self._lock:
            self.error = self.error or exc
        self.stop()

    def stop(self) -> None:
        """Ask the run to end: the source stops, queued frames drain, sinks close."""
        self._stop.set()
        self.source.stop()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the threads; True when all have ended."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for t in self._threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            t.join(left)
        return not any(t.is_alive() for t in self._threads)

    def run(self) -> StatsSnapshot:
        """Start, wait until the end (Ctrl-C stops cleanly), raise the fatal error if any; the last stats."""
        self.start()
        try:
            while not self.join(_POLL_S):
                pass
        except KeyboardInterrupt:
            self.stop()
            self.join(10.0)
            raise
        if self.error is not None:
            raise self.error
        return self.stats

    @property
    def name(self) -> str:
        """The stream's name: its analytics' source (the source level of its MQTT topics)."""
        return self.analytics.source

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    @property
    def sinks(self) -> list[Sink]:
        return self.bus.sinks

    def counters(self) -> dict[str, int]:
        """Run-time counters: frames in/out, stale (skipped in latest mode), failed, sink_errors (failed sink
        calls), + the source's."""
        return {
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "stale": self.stale,
            "failed": self.failed,
            "sink_errors": self.bus.failed,
            **self.source.counters(),
        }

    def sink_status(self) -> dict[str, dict[str, Any]]:
        """The failing sinks: {class name: {"failed": n, "last_error": "…"}}."""
        return self.bus.status()

    @property
    def dropped(self) -> int:
        src = self.source.counters()
        return self.stale + self.failed + src.get("bad_frames", 0)

    # -- stages --------------------------------------------------------------------------------------------
    def put(self, q: queue.Queue[Any], item: Any) -> None:
        """Blocking put; after a fatal error it gives up when the queue stays full (its consumer may be
        gone: a stage that fails sets the error before its thread ends)."""
        while True:
            try:
                q.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                if self.error is not None:
                    return

    def prepare(self, item: _Item) -> None:
        t0 = time.perf_counter()
        item.prepared = self.task.prepare(item.frame.image, self.task_options)
        item.timings["preprocess"] = (time.perf_counter() - t0) * 1e3

    def _read_loop(self) -> None:
        limit = self.options.max_frames
        pace = self.options.realtime and not self.source.live
        start: float | None = None
        try:
            for frame in self.source:
                if pace:  # wait until the frame's media time has passed since the first frame
                    start = time.perf_counter() - frame.timestamp_s if start is None else start
                    self._stop.wait(max(0.0, start + frame.timestamp_s - time.perf_counter()))
                if self._stop.is_set():
                    break
                self.frames_in += 1
                item = _Item(frame, time.perf_counter())
                if self.mode == "latest":
                    self._offer_latest(item)
                else:
                    if not self.step("preprocess", self.prepare, item):
                        continue
                    self.put(self.q_infer, item)
                if limit is not None and self.frames_in >= limit:
                    break
        finally:
            self.source.close()
            self.put(self.q_infer, END)

    def _offer_latest(self, item: _Item) -> None:
        """Keep only the newest frame waiting for the model; the one it replaces is stale (counted)."""
        try:
            self.q_infer.put_nowait(item)
        except queue.Full:
            try:
                self.q_infer.get_nowait()
                self.stale += 1
            except queue.Empty:
                pass
            self.put(self.q_infer, item)

    def step(self, stage: str, fn: Callable[[_Item], None], item: _Item) -> bool:
        """Run one stage on one frame; a non-visioncast failure is counted and the frame dropped."""
        try:
            fn(item)
        except VisioncastError:
            raise
        except Exception:  # the per-frame guard: count, log, keep the stream going
            with self._lock:  # stages on three threads count here
                self.failed += 1
            log.exception("frame %d failed in %s", item.frame.index, stage)
            return False
        return True

    def _post_loop(self) -> None:
        try:
            while (item := self.q_post.get()) is not END:
                if self.error is None and self.step("post-processing", self._postprocess, item):
                    self.put(self._q_out, item)
        finally:
            self.put(self._q_out, END)

    def _postprocess(self, item: _Item) -> None:
        t0 = time.perf_counter()
        result = self.task.postprocess(item.outputs or [], item.prepared)  # type: ignore[arg-type]
        item.timings["postprocess"] = (time.perf_counter() - t0) * 1e3
        item.prepared = item.outputs = None
        frame = item.frame
        result = replace(result, timings_ms=item.timings)
        item.result, item.stats, item.events = self.analytics.update(result, frame.index, frame.timestamp_s)
        if self.draw:
            item.annotated = draw_frame(frame.image, item.result, item.stats, self.analytics.lines,
                                        self.analytics.zones, lang=self.options.lang)

    def _output_loop(self) -> None:
        try:
            while (item := self._q_out.get()) is not END:
                if self.error is None:
                    self._emit(item)
            self.final_events = self.analytics.finish()
            self._remember(self.final_events)
            self.bus.deliver(Delivery(self.analytics.source, events=self.final_events))
        finally:
            self.bus.close()

    def _emit(self, item: _Item) -> None:
        now = time.perf_counter()
        self._rate.add(now, now - item.t_read)
        if item.stats is None or item.result is None:  # cannot happen: _postprocess sets both
            return
        stats = replace_stats(
            item.stats,
            fps=round(self._rate.fps, 2),
            latency_ms=round(self._rate.latency_ms, 1),
            dropped=self.dropped,
        )
        self._remember(item.events)
        self.bus.deliver(Delivery(stats["source"], item.result, item.frame, item.annotated, dict(stats),
                                  item.events))
        self.stats = stats
        self.frames_out += 1
        if self.on_frame is not None:
            self.on_frame(stats, item.events)

    def recent_events(self) -> list[dict[str, Any]]:
        """The last ``RECENT_EVENTS`` events, oldest first (for the API and the dashboard)."""
        with self._lock:
            return list(self._recent_events)

    def _remember(self, events: list[dict[str, Any]]) -> None:
        with self._lock:
            self._recent_events.extend(events)


def replace_stats(stats: StatsSnapshot, **changes: Any) -> StatsSnapshot:
    """A copy of a snapshot with run-time fields filled in."""
    out = dict(stats)
    out.update(changes)
    return out  # type: ignore[return-value]
