"""JobStore: result lines read back in order; a tail cut by a crash is dropped (also from the file) and
appending goes on after the last whole line; job.json is replaced whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from visioncast.server.videos.store import JobStore


@pytest.mark.parametrize("tail", ["", "{\"frame\": 3, \"time", "not json\n"])
def test_a_damaged_results_tail_is_dropped(tmp_path: Path, tail: str) -> None:
    store = JobStore(tmp_path)
    for i in range(3):
        store.append({"frame": i, "timestamp": i / 10})
    store.close()
    with (tmp_path / "results.jsonl").open("a") as fh:
        fh.write(tail)
    assert [r["frame"] for r in store.load_results()] == [0, 1, 2]
    store.append({"frame": 3, "timestamp": 0.3})
    store.close()
    assert [r["frame"] for r in JobStore(tmp_path).load_results()] == [0, 1, 2, 3]


@pytest.mark.parametrize("interval_s", [0.0, 1.0])
def test_meta_is_replaced_whole_and_results_survive_without_close(tmp_path: Path, interval_s: float) -> None:
    store = JobStore(tmp_path, fsync_interval_s=interval_s)
    store.save_meta({"state": "running", "name": "a.mp4"})
    store.save_meta({"state": "done", "name": "a.mp4"})
    assert store.load_meta() == {"state": "done", "name": "a.mp4"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.json"]
    store.append({"frame": 0, "timestamp": 0.0})  # not closed: as after a kill -9, the line is in the file
    assert JobStore(tmp_path).load_results() == [{"frame": 0, "timestamp": 0.0}]
    store.close()
    (tmp_path / "job.json").write_text("{not json")
    assert JobStore(tmp_path).load_meta() is None
    assert json.loads((tmp_path / "results.jsonl").read_text()) == {"frame": 0, "timestamp": 0.0}
