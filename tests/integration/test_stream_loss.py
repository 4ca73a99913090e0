"""A live MJPEG camera (real HTTP, under the test's control) stops and comes back: the pipeline reconnects,
counts the gap, keeps its statistics and does not crash."""

from __future__ import annotations

import time
from pathlib import Path

from tests.mjpeg_source import MjpegCamera, clip_jpegs
from tests.mqtt_peers import free_port

from visioncast.config import PipelineConfig
from visioncast.models import load_model
from visioncast.pipeline.build import open_pipeline
from visioncast.sources.stream import CaptureSource


def wait_until(predicate, timeout_s: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_stream_that_stops_and_comes_back(data_dir: Path) -> None:
    camera = MjpegCamera(clip_jpegs(data_dir / "vtest_clip.avi", 30), free_port(), fps=15).start()
    source = CaptureSource(camera.url, read_timeout_s=2.0, backoff_s=0.2, max_backoff_s=1.0)
    pipeline = open_pipeline(source, load_model("yolox-nano"), PipelineConfig(), name="door-cam").start()
    try:
        assert pipeline.mode == "latest"
        assert wait_until(lambda: pipeline.frames_out >= 5)
        camera.stop()
        assert wait_until(lambda: source.gaps >= 1)
        before = pipeline.frames_out
        time.sleep(0.5)
        camera.start()
        assert wait_until(lambda: source.reconnects >= 1)
        assert wait_until(lambda: pipeline.frames_out >= before + 5)
        assert pipeline.alive
        assert pipeline.error is None
        counters = pipeline.counters()
        assert counters["gaps"] == 1
        assert counters["reconnects"] == 1
        assert pipeline.stats["totals"].get("person", 0) >= 1
    finally:
        pipeline.stop()
        assert pipeline.join(10.0)
        camera.stop()
    assert pipeline.error is None
