"""``realtime``: a file plays no faster than its frame rate (what `run --serve` and server streams do), every
frame still processed, and ``stop()`` does not wait for the pacing. Only lower bounds on wall time: frame k of
a 10 fps clip cannot be read before k/10 s have passed, however fast the machine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from visioncast.config import PipelineConfig
from visioncast.errors import InputError
from visioncast.models import load_model
from visioncast.pipeline.build import open_pipeline
from visioncast.server.streams.registry import stream_config

FPS = 10.0  # tests/data/vtest_clip.avi


def test_realtime_file_is_paced_and_keeps_every_frame(data_dir: Path) -> None:
    pipeline = open_pipeline(str(data_dir / "vtest_clip.avi"), load_model("yolox-nano"),
                             PipelineConfig(realtime=True), name="clip", max_frames=12)
    emitted: list[float] = []
    pipeline.on_frame = lambda stats, new: emitted.append(time.perf_counter())
    start = time.perf_counter()
    pipeline.run()
    assert pipeline.frames_out == len(emitted) == 12
    assert pipeline.stale == 0
    assert emitted[-1] - start >= 11 / FPS


def test_stop_interrupts_the_pacing(data_dir: Path) -> None:
    pipeline = open_pipeline(str(data_dir / "vtest_clip.avi"), load_model("yolox-nano"),
                             PipelineConfig(realtime=True), name="clip")
    pipeline.start()
    deadline = time.monotonic() + 30
    while pipeline.frames_out < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    pipeline.stop()
    assert pipeline.join(10.0)
    assert 2 <= pipeline.frames_out < 70  # the 7 s clip was not played to its end


def test_stream_requests_play_files_in_real_time_unless_told() -> None:
    base = PipelineConfig()
    assert stream_config(base, {"source": "clip.avi"}).realtime is True
    assert stream_config(base, {"source": "clip.avi", "realtime": False}).realtime is False
    with pytest.raises(InputError, match="field 'realtime' must be true or false, got 'yes'"):
        stream_config(base, {"source": "clip.avi", "realtime": "yes"})
