"""`visioncast run` as a real subprocess: annotated video with every frame, annotated image, clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
from cli_run import run_cli, stderr_lines

from visioncast.cli.main import build_parser
from visioncast.cli.run import overrides


def test_video_in_annotated_video_out(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.avi"
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


def test_unreadable_sources_exit_1_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.avi").write_text("not a video", encoding="utf-8")
    for source, message in [
        ("missing.mp4", "source not found: 'missing.mp4'"),
        ("notes.avi", "cannot open 'notes.avi' as a video"),
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


def test_realtime_flag_sets_the_pipeline_option() -> None:
    parser = build_parser()
    for flags, expected in [([], None), (["--realtime"], True), (["--no-realtime"], False)]:
        args = parser.parse_args(["run", "-i", "clip.avi", *flags])
        assert overrides(args)["pipeline.realtime"] is expected
