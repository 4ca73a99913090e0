"""`visioncast run` as a real subprocess: annotated video with every frame, annotated image, clear errors,
MQTT push flushed at the end and summed up (sent / dropped)."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import pytest
from cli_run import run_cli, stderr_lines
from tests.mqtt_peers import Subscriber, free_port, mosquitto

from visioncast.cli.main import build_parser
from visioncast.cli.run import overrides


@pytest.mark.parametrize(("suffix", "fourcc"), [("avi", b"MJPG"), ("webm", b"VP80")])
def test_video_in_annotated_video_out(data_dir: Path, tmp_path: Path, suffix: str, fourcc: bytes) -> None:
    out = tmp_path / f"out.{suffix}"
    proc = run_cli(
        "run",
        "-i",
        data_dir / "vtest_clip.avi",
        "-o",
        out,
        "--line",
        "0,225,576,225:path",
        "--event",
        "person>=7:crowd",
        "--quiet",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == fourcc
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert (frames, cap.get(cv2.CAP_PROP_FPS)) == (70, 10.0)
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (576, 432)
    cap.release()
    assert "line path: in 0 out 4" in proc.stdout
    assert "crowd begin at" in proc.stdout
    assert f"saved {out} (70 frames)" in proc.stdout


def test_image_in_annotated_image_out(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bus_out.jpg"
    proc = run_cli("run", "-i", data_dir / "bus.jpg", "-o", out, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    original, annotated = cv2.imread(str(data_dir / "bus.jpg")), cv2.imread(str(out))
    assert annotated.shape == original.shape
    assert cv2.absdiff(annotated, original).max() > 100  # boxes were drawn
    assert "unique: " in proc.stdout


def test_unreadable_sources_exit_1_with_one_line(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.avi").write_text("not a video", encoding="utf-8")
    (tmp_path / "photo.mp4").write_bytes((data_dir / "bus.jpg").read_bytes())  # a renamed JPEG
    for source, message in [
        ("missing.mp4", "source not found: 'missing.mp4'"),
        ("notes.avi", "cannot open 'notes.avi' as a video"),
        ("photo.mp4", "'photo.mp4' is not a video: it is a JPEG image"),
        ("http://127.0.0.1:9/cam.mjpg", "cannot open 'http://127.0.0.1:9/cam.mjpg'"),
    ]:
        proc = run_cli("run", "-i", source, cwd=tmp_path)
        assert proc.returncode == 1
        lines = stderr_lines(proc)
        assert len(lines) == 1, lines
        assert lines[0].startswith("visioncast: error: ")
        assert message in lines[0]


def test_bad_line_spec_is_a_one_line_error(data_dir: Path, tmp_path: Path) -> None:
    proc = run_cli("run", "-i", data_dir / "vtest_clip.avi", "--line", "1,2,3", cwd=tmp_path)
    assert proc.returncode == 1
    assert stderr_lines(proc) == ["visioncast: error: line must be x1,y1,x2,y2, got 3 numbers in '1,2,3'"]


def test_event_hold_flag_is_read_and_a_negative_hold_refused(data_dir: Path, tmp_path: Path) -> None:
    parser = build_parser(["run"])
    held = overrides(parser.parse_args(["run", "-i", "c.avi", "--event-hold", "0.5"]))
    assert held["pipeline.event_hold_s"] == 0.5
    assert overrides(parser.parse_args(["run", "-i", "c.avi"]))["pipeline.event_hold_s"] is None
    proc = run_cli("run", "-i", data_dir / "vtest_clip.avi", "--event", "person", "--event-hold", "-1",
                   cwd=tmp_path)
    assert proc.returncode == 1
    assert stderr_lines(proc) == ["visioncast: error: event hold must be 0 or more seconds, got -1.0"]


def test_realtime_flag_sets_the_pipeline_option() -> None:
    parser = build_parser()
    for flags, expected in [([], None), (["--realtime"], True), (["--no-realtime"], False)]:
        args = parser.parse_args(["run", "-i", "clip.avi", *flags])
        assert overrides(args)["pipeline.realtime"] is expected


def test_mqtt_push_is_flushed_and_summed_up(data_dir: Path, tmp_path: Path) -> None:
    """Every message `run` counts as sent reaches a real subscriber, none is left behind at the end."""
    port = free_port()
    with mosquitto(tmp_path, port):
        sub = Subscriber(port, "visioncast/#")
        try:
            proc = run_cli("run", "-i", data_dir / "vtest_clip.avi", "--mqtt", f"mqtt://127.0.0.1:{port}",
                           "--name", "clip", "--quiet", cwd=tmp_path)
            assert proc.returncode == 0, proc.stderr
            summary = re.search(rf"MQTT 127\.0\.0\.1:{port}: (\d+) messages sent, 0 dropped", proc.stdout)
            assert summary, proc.stdout
            sent = int(summary.group(1))
            sub.wait_for(lambda m: sum(not t.endswith("/status") for t, _ in m) >= sent)
        finally:
            sub.close()
    assert len(sub.payloads("visioncast/clip/result")) == 70
    assert len(sub.payloads("visioncast/clip/stats")) == 70
    assert sum(not t.endswith("/status") for t, _ in sub.messages) == sent


def test_mqtt_without_a_broker_says_so_and_counts_what_it_dropped(data_dir: Path, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    proc = run_cli("run", "-i", data_dir / "vtest_clip.avi", "--mqtt", f"mqtt://127.0.0.1:{port}",
                   "--max-frames", "5", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"MQTT broker 127.0.0.1:{port} not connected yet" in proc.stderr
    summary = re.search(r"0 messages sent, (\d+) dropped \(queue full 0, disconnected (\d+), refused 0\)",
                        proc.stdout)
    assert summary, proc.stdout
    assert int(summary.group(1)) == int(summary.group(2)) >= 5 * 3  # result, label, stats per frame
