"""The statistics of a stream: counts, unique totals, dwell times, lines, zones and events. Pure, no I/O.

:class:`Analytics` is fed one Result per frame (in frame order) with the frame's media time and returns
the tracked Result, the statistics snapshot (:class:`StatsSnapshot`, the one schema of MQTT, the dashboard,
JSON lines and ``/api/v1/stats``) and the events of that frame. Same input → same output: no clocks, no
randomness. The pipeline fills the run-time fields (fps, latency_ms, dropped) that analytics cannot know.

* ``counts``: detections per label in this frame (tracked or not); for a classify result {top label: 1};
* ``areas`` (segmentation results only): the pixels each label's masks cover in this frame;
* ``totals``: unique confirmed tracks per label since the start; for classify results, the frames each label
  was the top class (there is nothing to track: no tracks, dwell, lines or zones; events work on counts);
* ``dwell``: seconds each live track has been seen (``active``) and ``average_s``, the mean over every
  confirmed track so far (ended ones with their final duration, live ones with their duration so far);
* events ``track_left`` (a confirmed track unseen for the tracker's ``lost_frames``, or still live at
  :meth:`Analytics.finish`) and ``state`` (see :mod:`visioncast.analytics.event`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, TypedDict

from visioncast.analytics.event import Condition, StateWatcher
from visioncast.analytics.region import LineCounter, ZoneCounter
from visioncast.analytics.track import ByteTracker
from visioncast.core.types import Result
from visioncast.errors import ConfigError

SCHEMA_VERSION = 1


class DwellStats(TypedDict):
    average_s: float
    active: dict[str, float]


class _Snapshot(TypedDict):

    schema_version: int
    source: str
    frame: int
    timestamp: float
    fps: float
    latency_ms: float
    dropped: int
    counts: dict[str, int]
    totals: dict[str, int]
    dwell: DwellStats
    lines: dict[str, dict[str, int]]
    zones: dict[str, int]


class StatsSnapshot(_Snapshot, total=False):
    """The statistics snapshot (see docs/pipeline.md and the contract of issue 6); ``areas`` only for
    segmentation results."""

    areas: dict[str, int]


@dataclass
class _Seen:
    label: str
    first_s: float
    last_s: float

    @property
    def duration_s(self) -> float:
        return self.last_s - self.first_s


@dataclass(frozen=True)
class AnalyticsSpec:
    """What to compute: line and zone specs, event conditions, and whether to track at all."""

    lines: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    track: bool = True
    lost_frames: int = 30
    event_hold_s: float = 0.0


class Analytics:
    """Stateful statistics of one stream; feed frames in order with :meth:`update`."""

    def __init__(self, spec: AnalyticsSpec | None = None, *, source: str = "stream") -> None:
        spec = spec or AnalyticsSpec()
        self.source = source
        self.tracker = ByteTracker(lost_frames=spec.lost_frames) if spec.track else None
        self.lines = [LineCounter.from_spec(s, f"line{i + 1}") for i, s in enumerate(spec.lines)]
        self.zones = [ZoneCounter.from_spec(s, f"zone{i + 1}") for i, s in enumerate(spec.zones)]
        self.watchers = [StateWatcher(Condition.parse(s), spec.event_hold_s) for s in spec.events]
        _check_unique("line", [x.name for x in self.lines])
        _check_unique("zone", [x.name for x in self.zones])
        _check_unique("event", [w.condition.name for w in self.watchers])
        self.totals: dict[str, int] = {}
        self._seen: dict[int, _Seen] = {}
        self._ended_s: list[float] = []
        self._last: StatsSnapshot | None = None

    def update(
        self, result: Result, frame: int, timestamp_s: float
    ) -> tuple[Result, StatsSnapshot, list[dict]]:
        """Track, count and watch one frame's Result → (tracked result, snapshot, events)."""
        if result.detections is None:
            snapshot, label_events = self._update_labels(result, frame, timestamp_s)
            return result, snapshot, label_events
        dets = result.detections
        events: list[dict[str, Any]] = []
        if self.tracker is not None:
            dets = self.tracker.update(dets)
            events += self._end_tracks(self.tracker.ended)
            ids = dets.track_id.tolist() if dets.track_id is not None else []
            self._see(ids, dets.labels, timestamp_s)
            for line in self.lines:
                line.update(dets)
                line.forget(self.tracker.ended)
        for zone in self.zones:
            zone.update(dets)
        counts = dict(sorted(dets.counts().items()))
        for watcher in self.watchers:
            if (event := watcher.update(counts, timestamp_s)) is not None:
                events.append(event)
        self._last = self._snapshot(frame, timestamp_s, counts)
        if dets.area is not None:
            self._last["areas"] = dict(sorted(dets.areas().items()))
        return replace(result, detections=dets), self._last, events

    def _update_labels(self, result: Result, frame: int, timestamp_s: float
                       ) -> tuple[StatsSnapshot, list[dict[str, Any]]]:
        """A classify result: count its top label (this frame, and frames so far); watch the counts."""
        counts = result.counts()
        for label in counts:
            self.totals[label] = self.totals.get(label, 0) + 1
        events = [e for w in self.watchers if (e := w.update(counts, timestamp_s)) is not None]
        self._last = self._snapshot(frame, timestamp_s, counts)
        return self._last, events

    def _see(self, track_ids: Sequence[int], labels: Sequence[str], timestamp_s: float) -> None:
        for tid, label in zip(track_ids, labels, strict=False):
            if tid < 0:
                continue
            if tid not in self._seen:
                self._seen[tid] = _Seen(label, timestamp_s, timestamp_s)
                self.totals[label] = self.totals.get(label, 0) + 1
            else:
                self._seen[tid].last_s = timestamp_s

    def _end_tracks(self, track_ids: Sequence[int]) -> list[dict[str, Any]]:
        events = []
        for tid in track_ids:
            seen = self._seen.pop(tid, None)
            if seen is None:
                continue
            self._ended_s.append(seen.duration_s)
            events.append(
                {
                    "type": "track_left",
                    "label": seen.label,
                    "track_id": tid,
                    "duration_s": round(seen.duration_s, 3),
                    "timestamp": round(seen.last_s, 3),
                }
            )
        return events

    def finish(self) -> list[dict[str, Any]]:
        """End of stream: every live track leaves (``track_left`` events), in track-id order."""
        return self._end_tracks(sorted(self._seen))

    def _snapshot(self, frame: int, timestamp_s: float, counts: dict[str, int]) -> StatsSnapshot:
        durations = self._ended_s + [s.duration_s for s in self._seen.values()]
        return {
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "frame": frame,
            "timestamp": round(timestamp_s, 3),
            "fps": 0.0,
            "latency_ms": 0.0,
            "dropped": 0,
            "counts": counts,
            "totals": dict(sorted(self.totals.items())),
            "dwell": {
                "average_s": round(sum(durations) / len(durations), 3) if durations else 0.0,
                "active": {str(t): round(s.duration_s, 3) for t, s in sorted(self._seen.items())},
            },
            "lines": {line.name: line.counts() for line in self.lines},
            "zones": {zone.name: zone.occupancy for zone in self.zones},
        }

    @property
    def last(self) -> StatsSnapshot | None:
        """The snapshot of the latest frame, or None before the first."""
        return self._last


def empty_snapshot(source: str) -> StatsSnapshot:
    """The snapshot before any frame (all zero)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "source": source,
        "frame": 0,
        "timestamp": 0.0,
        "fps": 0.0,
        "latency_ms": 0.0,
        "dropped": 0,
        "counts": {},
        "totals": {},
        "dwell": {"average_s": 0.0, "active": {}},
        "lines": {},
        "zones": {},
    }


def _check_unique(kind: str, names: list[str]) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{kind} names must be unique, got {', '.join(dupes)} more than once")
