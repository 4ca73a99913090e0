"""The pipeline on the committed vtest clip: golden per-frame counts and unique totals, reproduced exactly on
repeated runs; the hand-checked line crossings; OpenVINO's async queue keeps frame order.

Regenerate the golden file (and review the diff) with ``VISIONCAST_REGEN_GOLDEN=1 pytest this file``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from visioncast.config import PipelineConfig
from visioncast.models import load_model
from visioncast.pipeline.build import open_pipeline
from visioncast.sinks.jsonl import JsonlSink

GOLDEN = Path(__file__).parents[1] / "data" / "golden" / "vtest_clip_pipeline.json"
# y = 225 crosses the path in front of the building in the 576×432 clip. Watching the annotated frames: four
# people walk up (away from the camera) across it — one by the lamp post (frame 5), one coming from the right
# (frame 29) and a pair walking side by side on the right (frames 53–54) — and nobody walks down across it.
LINE = "0,225,576,225:path"
HAND_CHECKED = {"in": 0, "out": 4}


def run_clip(data_dir: Path, tmp_path: Path, engine: str = "onnxruntime",
             hold_s: float = 0.0) -> list[dict[str, Any]]:
    detector = load_model("yolox-nano", engine=engine)
    out = tmp_path / f"{engine}-{len(list(tmp_path.iterdir()))}.jsonl"
    cfg = PipelineConfig(lines=(LINE,), events=("person>=7:crowd",), event_hold_s=hold_s)
    pipeline = open_pipeline(
        str(data_dir / "vtest_clip.avi"), detector, cfg, name="clip", sinks=[JsonlSink(out)]
    )
    pipeline.run()
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def summary(lines: list[dict[str, Any]]) -> dict[str, Any]:
    frames = [x for x in lines if "result" in x]
    return {
        "frames": [[x["stats"]["frame"], x["stats"]["counts"], x["stats"]["totals"]] for x in frames],
        "lines": frames[-1]["stats"]["lines"],
        "events": [e for x in lines for e in x["events"]],
    }


@pytest.fixture(scope="module")
def first_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return run_clip(data_dir, tmp_path_factory.mktemp("clip"))


def test_golden_counts_and_totals(first_run: list[dict[str, Any]]) -> None:
    got = summary(first_run)
    if os.environ.get("VISIONCAST_REGEN_GOLDEN") == "1":
        rows = ",\n  ".join(json.dumps(f, sort_keys=True) for f in got["frames"])
        GOLDEN.write_text(
            f'{{"frames": [\n  {rows}\n ],\n "lines": {json.dumps(got["lines"])},\n'
            f' "events": {json.dumps(got["events"], indent=1)}}}\n',
            encoding="utf-8",
        )
    assert got == json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert len(got["frames"]) == 70
    assert [f[0] for f in got["frames"]] == list(range(70))


def test_repeated_runs_are_identical(first_run: list[dict[str, Any]], data_dir: Path, tmp_path: Path) -> None:
    assert summary(run_clip(data_dir, tmp_path)) == summary(first_run)


def test_line_crossings_equal_the_hand_checked_count(first_run: list[dict[str, Any]]) -> None:
    assert summary(first_run)["lines"] == {"path": HAND_CHECKED}


def debounced(counts: list[tuple[float, int]], k: int, hold_s: float) -> list[tuple[str, float]]:
    """Reference for the event hold, by runs: a run of frames where ``count >= k`` differs from the state so
    far changes it — stamped at its first frame — only if it lasts at least ``hold_s``."""
    runs: list[list[Any]] = []  # [state, first time, last time]
    for t, n in counts:
        if runs and runs[-1][0] == (n >= k):
            runs[-1][2] = t
        else:
            runs.append([n >= k, t, t])
    state, out = False, []
    for value, first, last in runs:
        if value != state and last - first >= hold_s - 1e-9:
            state = value
            out.append(("begin" if value else "end", first))
    return out


def test_event_hold_debounces_the_crowd_event(first_run: list[dict[str, Any]], data_dir: Path,
                                              tmp_path: Path) -> None:
    """person ≥ 7 flickers on the clip (9 events without a hold); with 0.5 s only the crowd that lasts from
    3.9 s (frames 39–51, then dips of at most 2 frames) begins, and never ends."""
    def states(lines: list[dict[str, Any]]) -> list[tuple[str, float]]:
        return [(e["state"], e["timestamp"]) for x in lines for e in x["events"] if e["type"] == "state"]

    assert len(states(first_run)) == 9
    counts = [(x["stats"]["timestamp"], x["stats"]["counts"].get("person", 0))
              for x in first_run if "stats" in x]
    assert debounced(counts, 7, 0.0) == states(first_run)  # the reference agrees without a hold
    held = run_clip(data_dir, tmp_path, hold_s=0.5)
    assert states(held) == debounced(counts, 7, 0.5) == [("begin", 3.9)]


def test_jsonl_lines_carry_result_stats_and_events(first_run: list[dict[str, Any]]) -> None:
    line = first_run[10]
    assert line["result"]["frame"] == 10
    assert line["result"]["source"] == "clip"
    assert line["result"]["timestamp"] == pytest.approx(1.0)
    assert set(line["stats"]) == {
        "schema_version",
        "source",
        "frame",
        "timestamp",
        "fps",
        "latency_ms",
        "dropped",
        "counts",
        "totals",
        "dwell",
        "lines",
        "zones",
    }
    assert any("track_id" in d for d in line["result"]["detections"])
    ended = first_run[-1]["events"]
    assert ended
    assert all(e["type"] == "track_left" for e in ended)


def test_openvino_async_keeps_frame_order(data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    lines = run_clip(data_dir, tmp_path, engine="openvino")
    frames = [x["stats"]["frame"] for x in lines if "result" in x]
    assert frames == list(range(70))
