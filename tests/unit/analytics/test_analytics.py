"""Analytics on hand-built detections: tracking ids, line crossings, zone occupancy, events, dwell, totals."""

from __future__ import annotations

import numpy as np
import pytest

from visioncast.analytics import Analytics, AnalyticsSpec, ByteTracker, Condition, LineCounter, ZoneCounter
from visioncast.analytics.event import StateWatcher, describe_event
from visioncast.analytics.region import points_in_polygon
from visioncast.core.types import Classification, Detections, Result
from visioncast.errors import ConfigError


def make_detections(
    boxes: list[tuple[float, float, float, float]],
    labels: list[str] | None = None,
    scores: list[float] | None = None,
) -> Detections:
    labels = labels or ["person"] * len(boxes)
    ids = [0 if label == "person" else 2 for label in labels]
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), ids, scores or [0.9] * len(boxes), labels)


def walker(x: float, y: float, w: float = 20, h: float = 60) -> tuple[float, float, float, float]:
    """A person box whose bottom-centre is (x, y)."""
    return (x - w / 2, y - h, x + w / 2, y)


def result_of(dets: Detections) -> Result:
    return Result("detect", "test", 640, 480, detections=dets)


def test_tracker_keeps_ids_and_confirms_after_two_hits() -> None:
    tracker = ByteTracker()
    first = tracker.update(make_detections([walker(100, 200), walker(400, 200)]))
    assert first.track_id.tolist() == [-1, -1]  # one frame is not yet a track
    ids = None
    for step in range(1, 10):
        out = tracker.update(make_detections([walker(400 - 3 * step, 200), walker(100 + 5 * step, 200)]))
        if ids is None:
            ids = out.track_id.tolist()
            assert sorted(ids) == [1, 2]
        assert out.track_id.tolist() == ids


def test_tracker_keeps_id_through_a_low_score_frame_and_ends_lost_tracks() -> None:
    tracker = ByteTracker(lost_frames=3)
    for step in range(3):
        out = tracker.update(make_detections([walker(100 + 4 * step, 200)]))
    tid = int(out.track_id[0])
    low = tracker.update(make_detections([walker(112, 200)], scores=[0.3]))
    assert low.track_id.tolist() == [tid]  # ByteTrack's second association
    for _ in range(4):
        tracker.update(Detections.empty())
    assert tracker.ended == [tid]
    assert tracker.active_ids() == []


def test_tracker_does_not_continue_a_track_of_another_class() -> None:
    tracker = ByteTracker()
    for _ in range(3):
        tracker.update(make_detections([walker(100, 200)]))
    out = tracker.update(make_detections([walker(100, 200)], labels=["car"]))
    assert out.track_id.tolist() == [-1]


@pytest.mark.parametrize(
    ("ys", "expected"),
    [
        ([100, 140, 180, 220], {"in": 1, "out": 0}),  # moving down across y=160: in
        ([220, 180, 140, 100], {"in": 0, "out": 1}),  # moving up: out
        ([100, 170, 150, 170], {"in": 2, "out": 1}),  # back and forth: every crossing counts
        ([100, 120, 140, 150], {"in": 0, "out": 0}),  # never crosses
    ],
)
def test_line_counts_crossings_by_direction(ys: list[float], expected: dict[str, int]) -> None:
    line = LineCounter.from_spec("0,160,640,160:door")
    for y in ys:
        line.update(make_detections([walker(300, y)]).with_tracks(np.array([7])))
    assert line.name == "door"
    assert line.counts() == expected


def test_line_ignores_crossings_beside_the_segment_and_untracked_boxes() -> None:
    line = LineCounter.from_spec("0,160,200,160")
    for y in (100, 220):
        line.update(make_detections([walker(400, y)]).with_tracks(np.array([1])))
        line.update(make_detections([walker(100, y)]).with_tracks(np.array([-1])))
    assert line.counts() == {"in": 0, "out": 0}


def test_zone_occupancy_uses_the_bottom_centre() -> None:
    zone = ZoneCounter.from_spec("0,0,200,0,200,200,0,200:queue")
    zone.update(make_detections([walker(100, 150), walker(100, 260), walker(300, 150)]))
    assert (zone.name, zone.occupancy) == ("queue", 1)
    square = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0))
    assert points_in_polygon(np.array([[5, 5], [15, 5], [-1, 5]], float), square).tolist() == [
        True,
        False,
        False,
    ]


@pytest.mark.parametrize("spec", ["1,2,3", "1,2,3,4,5,6", "a,b,c,d", ""])
def test_bad_line_specs_name_the_expected_form(spec: str) -> None:
    with pytest.raises(ConfigError, match="line must be"):
        LineCounter.from_spec(spec)


@pytest.mark.parametrize(
    ("spec", "name", "counts", "holds"),
    [
        ("person", "person>=1", {"person": 1}, True),
        ("!person:empty", "empty", {}, True),
        ("!person", "person==0", {"person": 2}, False),
        ("person>=3:danger", "danger", {"person": 3}, True),
        ("person >= 3", "person>=3", {"person": 2}, False),
        ("car<2", "car<2", {"car": 1}, True),
    ],
)
def test_conditions(spec: str, name: str, counts: dict[str, int], holds: bool) -> None:
    cond = Condition.parse(spec)
    assert cond.name == name
    assert cond.holds(counts) is holds


@pytest.mark.parametrize("spec", ["", "person>=", "!person>=2", ">=3"])
def test_bad_conditions(spec: str) -> None:
    with pytest.raises(ConfigError, match="event must look like"):
        Condition.parse(spec)


def test_state_watcher_emits_begin_and_end_with_media_time() -> None:
    watcher = StateWatcher(Condition.parse("person>=2:danger"))
    events = [watcher.update({"person": n}, t / 10) for t, n in enumerate([0, 2, 3, 1, 1, 2])]
    fired = [e for e in events if e]
    assert [(e["state"], e["timestamp"]) for e in fired] == [("begin", 0.1), ("end", 0.3), ("begin", 0.5)]
    assert describe_event(fired[0]) == "danger begin at 0.10 seconds"


def test_state_watcher_hold_ignores_flicker_and_stamps_when_the_change_began() -> None:
    """0.3 s hold at 10 fps: the begin of 0.1 s is confirmed at 0.4 s, the one-frame dip at 0.5 s and the
    two-frame blip at 1.2 s never fire, the end of 0.8 s is confirmed at 1.1 s."""
    watcher = StateWatcher(Condition.parse("person>=2:danger"), hold_s=0.3)
    counts = [0, 2, 3, 2, 2, 1, 2, 2, 0, 0, 0, 0, 2, 2, 0, 0]
    fired = [(t, e) for t, n in enumerate(counts) if (e := watcher.update({"person": n}, t / 10))]
    assert [(t, e["state"], e["timestamp"]) for t, e in fired] == [(4, "begin", 0.1), (11, "end", 0.8)]
    assert watcher.active is False


@pytest.mark.parametrize("hold", [-0.1, float("nan")])
def test_state_watcher_refuses_a_negative_hold(hold: float) -> None:
    with pytest.raises(ConfigError, match="event hold must be 0 or more seconds"):
        StateWatcher(Condition.parse("person"), hold_s=hold)


def test_analytics_totals_dwell_lines_and_track_left_events() -> None:
    an = Analytics(
        AnalyticsSpec(
            lines=("0,160,640,160:door",),
            zones=("0,0,640,0,640,480,0,480",),
            events=("person>=2:pair",),
            lost_frames=2,
        ),
        source="cam",
    )
    events_all = []
    for f in range(10):
        boxes = [walker(100, 100 + 10 * f)] + ([walker(400, 300)] if f < 5 else [])
        _, stats, events = an.update(result_of(make_detections(boxes)), f, f * 0.5)
        events_all += events
    assert stats["totals"] == {"person": 2}
    assert stats["counts"] == {"person": 1}
    assert stats["lines"] == {"door": {"in": 1, "out": 0}}
    assert stats["zones"] == {"zone1": 1}
    left = [e for e in events_all if e["type"] == "track_left"]
    assert left == [
        {"type": "track_left", "label": "person", "track_id": 2, "duration_s": 1.5, "timestamp": 2.0}
    ]
    states = [(e["state"], e["timestamp"]) for e in events_all if e["type"] == "state"]
    assert states == [("begin", 0.0), ("end", 2.5)]
    assert stats["dwell"]["active"] == {"1": 4.0}
    assert stats["dwell"]["average_s"] == pytest.approx((1.5 + 4.0) / 2)
    final = an.finish()
    assert [(e["track_id"], e["duration_s"]) for e in final] == [(1, 4.0)]


def classified(label: str) -> Result:
    return Result("classify", "m", 2, 2, classification=Classification([0], [1.0], [label]))


def test_classify_results_count_top_labels_and_fire_events() -> None:
    an = Analytics(AnalyticsSpec(events=("cat:cat_seen",)))
    frames = [an.update(classified(label), i, i / 10) for i, label in enumerate(["cat", "cat", "dog", "cat"])]
    result, stats, _ = frames[-1]
    assert result == classified("cat")  # nothing to track: the result passes through
    assert stats["counts"] == {"cat": 1}
    assert stats["totals"] == {"cat": 3, "dog": 1}  # frames each label was on top
    assert stats["dwell"] == {"average_s": 0.0, "active": {}}
    states = [(e["state"], e["timestamp"]) for _, _, events in frames for e in events]
    assert states == [("begin", 0.0), ("end", 0.2), ("begin", 0.3)]


def test_analytics_refuses_duplicate_names() -> None:
    with pytest.raises(ConfigError, match="line names must be unique"):
        Analytics(AnalyticsSpec(lines=("0,0,1,1:a", "0,0,2,2:a")))
