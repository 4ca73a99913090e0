"""Guarded stages: a sink that raises never kills a pipeline thread, and a stage that dies ends the run with
a clear error instead of blocking the others (on the real clip and model).

The failing sink is a real one failing for real: JSON lines into a file that is already closed (Python raises
ValueError, outside the visioncast errors), or into /dev/full (no space left: SinkError).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from tests.integration.cli_run import run_cli

from visioncast.config import PipelineConfig
from visioncast.errors import VisioncastError
from visioncast.models import load_model
from visioncast.pipeline.build import open_pipeline
from visioncast.sinks.jsonl import JsonlSink

FRAMES = 70
JOIN_S = 10.0


def closed_jsonl(tmp_path: Path) -> JsonlSink:
    stream = (tmp_path / "closed.jsonl").open("w", encoding="utf-8")
    stream.close()
    return JsonlSink("closed.jsonl", stream=stream)


def test_a_raising_sink_is_counted_and_the_run_finishes(data_dir: Path, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    good = tmp_path / "good.jsonl"
    pipeline = open_pipeline(str(data_dir / "vtest_clip.avi"), load_model("yolox-nano"), PipelineConfig(),
                             name="clip", sinks=[closed_jsonl(tmp_path), JsonlSink(good)])
    with caplog.at_level(logging.ERROR, logger="visioncast.sinks.bus"):
        pipeline.start()
        assert pipeline.join(JOIN_S), "a pipeline thread is still alive"
    assert pipeline.error is None
    lines = [json.loads(line) for line in good.read_text(encoding="utf-8").splitlines()]
    assert sum("result" in line for line in lines) == FRAMES  # the next sink got every frame
    failures = FRAMES + bool(pipeline.final_events)  # every frame, and the end-of-stream events
    assert pipeline.counters()["sink_errors"] == failures
    status = pipeline.sink_status()["JsonlSink"]
    assert status["failed"] == failures
    assert status["last_error"] == "ValueError: I/O operation on closed file."
    assert len([r for r in caplog.records if "sink JsonlSink failed" in r.getMessage()]) == 1  # once a kind


def test_a_dying_stage_ends_the_run_instead_of_blocking(data_dir: Path) -> None:
    """The output stage's own code raising (here the per-frame callback) used to end its thread silently;
    the reader then waited forever on a full queue and stop() could not end the threads."""
    pipeline = open_pipeline(str(data_dir / "vtest_clip.avi"), load_model("yolox-nano"), PipelineConfig(),
                             name="clip")

    def on_frame(stats: object, events: object) -> None:
        raise ValueError("a callback bug")

    pipeline.on_frame = on_frame
    pipeline.start()
    assert pipeline.join(JOIN_S), "a pipeline thread is still alive"
    assert isinstance(pipeline.error, VisioncastError)
    assert str(pipeline.error) == "the pipeline's output stage failed: ValueError: a callback bug"
    assert pipeline.frames_out == 1  # the callback runs after the first frame was delivered


def test_run_with_a_failing_output_finishes_and_says_so(data_dir: Path, tmp_path: Path) -> None:
    """`visioncast run` with its JSON lines going to a full disk: the video is still written, the summary
    printed, the failure named, exit code 1."""
    video = tmp_path / "out.avi"
    proc = run_cli("run", "-i", data_dir / "vtest_clip.avi", "--jsonl", "/dev/full", "-o", video, "--quiet",
                   cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert f"{FRAMES} frames" in proc.stdout
    assert f"saved {video} ({FRAMES} frames)" in proc.stdout
    # every frame, the end-of-stream events and the close (its flush) failed; each is one line, no traceback
    assert ("visioncast: error: output JsonlSink failed 72 times (last: SinkError: cannot close JSON lines "
            "'/dev/full': No space left on device)") in proc.stderr
    assert "Traceback" not in proc.stderr
