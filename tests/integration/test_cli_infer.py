"""`visioncast detect` and `classify` end to end, as a user runs them: real subprocess, real models."""

from __future__ import annotations

import io
import json
import os
import select
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_run import cli_env, run_cli, stderr_lines
from PIL import Image

from tiny_onnx import classifier_model, constant_model

BUS_REFERENCE = [13, 231, 801, 735]
MOODS = ["开心", "愤怒", "悲伤", "惊讶", "平静"]


def png_bytes(width: int, height: int, raw: bytes) -> bytes:
    """A PNG whose IHDR says width×height (8-bit RGB), with ``raw`` as its compressed scanlines."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def test_detect_bus_json(data_dir, tmp_path):
    proc = run_cli("detect", data_dir / "bus.jpg", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    payload = json.loads(lines[0])
    dets = payload["detections"]
    buses = [d for d in dets if d["label"] == "bus"]
    assert len(buses) == 1
    assert buses[0]["score"] >= 0.85
    assert np.abs(np.array(buses[0]["box"]) - BUS_REFERENCE).max() <= 3
    assert sum(d["label"] == "person" and d["score"] >= 0.6 for d in dets) >= 3
    assert (tmp_path / "visioncast_out" / "bus.jpg").is_file()  # annotated by default


def test_detect_text_output_and_annotated_file(data_dir, tmp_path):
    out = tmp_path / "out" / "annotated.jpg"
    proc = run_cli("detect", data_dir / "bus.jpg", "-o", out, "--conf", "0.5", "--classes", "bus",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 detections (yolox-nano" in proc.stdout
    assert "bus" in proc.stdout
    assert "person" not in proc.stdout
    assert f"saved {out}" in proc.stdout
    annotated, original = cv2.imread(str(out)), cv2.imread(str(data_dir / "bus.jpg"))
    assert annotated.shape == original.shape == (1080, 810, 3)
    assert np.abs(annotated.astype(int) - original).max() > 100  # something was drawn


def test_classify_twenty_cifar_images(data_dir, tmp_path):
    proc = run_cli("classify", data_dir / "cifar10", "--json", "--top", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    payloads = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(payloads) == 20
    expected = [int(Path(p["source"]).stem.rsplit("_", 1)[1]) for p in payloads]
    assert [p["predictions"][0]["class_id"] for p in payloads] == expected


def corrupt_jpeg(d: Path, data_dir: Path) -> Path:
    data = (data_dir / "bus.jpg").read_bytes()
    (d / "cut.jpg").write_bytes(data[: len(data) // 2])
    return d / "cut.jpg"


def text_as_jpeg(d: Path, _: Path) -> Path:
    (d / "notes.jpg").write_text("these are not pixels\n", encoding="utf-8")
    return d / "notes.jpg"


def one_pixel_png(d: Path, _: Path) -> Path:
    (d / "dot.png").write_bytes(png_bytes(1, 1, b"\x00\xff\x00\x00"))
    return d / "dot.png"


def huge_png(d: Path, _: Path) -> Path:
    (d / "huge.png").write_bytes(png_bytes(30000, 30000, b"\x00" * 64))
    return d / "huge.png"


BAD_IMAGES = [
    (corrupt_jpeg, "cut.jpg' is a truncated or corrupt JPEG"),
    (text_as_jpeg, "notes.jpg' must be a JPEG/PNG/BMP/WebP/TIFF/HEIC/AVIF image, got text"),
    (lambda d, _: d / "missing.jpg", "image file not found: '"),
    (one_pixel_png, "dot.png' is 1×1 pixels; at least 2×2 is needed"),
    (huge_png, "huge.png' is far too large to decode"),
]


@pytest.mark.parametrize(("make", "problem"), BAD_IMAGES,
                         ids=["corrupt-jpeg", "text-named-jpg", "missing", "1x1-png", "30000x30000-png"])
def test_bad_image_gives_one_line_and_exit_1(tmp_path, data_dir, make, problem):
    proc = run_cli("detect", make(tmp_path, data_dir), cwd=tmp_path)
    assert proc.returncode == 1
    lines = stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("visioncast: error: ")
    assert problem in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_classify_reports_each_bad_image_and_goes_on(tmp_path, data_dir):
    paths = [make(tmp_path, data_dir) for make, _ in BAD_IMAGES]
    good = data_dir / "cifar10" / "cifar10_00_3.png"
    proc = run_cli("classify", *paths[:3], good, *paths[3:], "--json", cwd=tmp_path)
    assert proc.returncode == 1  # the failures are reported in the exit code
    *lines, summary = stderr_lines(proc)
    assert len(lines) == len(BAD_IMAGES), proc.stderr
    assert summary == ("1 image, 5 skipped: cut.jpg (corrupt), notes.jpg (text), missing.jpg (not found), "
                       "dot.png (too small), huge.png (too large)")
    for line, (_, problem) in zip(lines, BAD_IMAGES, strict=True):
        assert line.startswith("visioncast: error: ")
        assert problem in line
    assert json.loads(proc.stdout)["predictions"][0]["label"] == "cat"
    assert "Traceback" not in proc.stderr


def test_a_folder_batch_ends_with_a_summary_line(data_dir, tmp_path):
    folder = tmp_path / "phone"
    folder.mkdir()
    for name in ("zidane.heic", "motion_photo.jpg"):
        (folder / name).write_bytes((data_dir / name).read_bytes())
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    (folder / "a.gif").write_bytes(gif.getvalue())
    corrupt_jpeg(folder, data_dir)
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")  # hidden: not part of the batch
    proc = run_cli("pose", folder, "-o", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 1  # two were skipped
    assert proc.stdout.splitlines()[-1] == "2 images, 2 skipped: a.gif (GIF), cut.jpg (corrupt)"
    assert "zidane.heic: " in proc.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["motion_photo.jpg", "zidane.jpg"]
    as_json = run_cli("detect", folder, "--json", "--no-save", cwd=tmp_path)
    assert len(as_json.stdout.splitlines()) == 2  # results only; the summary goes to stderr
    assert stderr_lines(as_json)[-1] == "2 images, 2 skipped: a.gif (GIF), cut.jpg (corrupt)"


@pytest.mark.parametrize("content", ["empty", "gifs"])
def test_a_folder_with_nothing_to_process_exits_1(tmp_path, content):
    folder = tmp_path / "photos"
    folder.mkdir()
    if content == "gifs":
        for name in ("a.gif", "b.gif"):
            Image.new("RGB", (8, 8)).save(folder / name)
    proc = run_cli("detect", folder, cwd=tmp_path)
    assert proc.returncode == 1
    expected = ("0 images, 2 skipped: a.gif (GIF), b.gif (GIF)" if content == "gifs"
                else f"no files in '{folder}'")
    assert stderr_lines(proc)[-1] == f"visioncast: error: no image was processed ({expected})"
    assert proc.stdout == ""


@pytest.mark.parametrize(("args", "fragment"), [
    (["detect", "--conf"], "argument --conf: expected one argument"),
    (["nonsense"], "invalid choice: 'nonsense'"),
    ([], "usage: visioncast"),
])
def test_usage_errors_exit_2(tmp_path, args, fragment):
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["detect", "--conf", "1.5"], "conf must be between 0 and 1, got 1.5"),
    (["classify", "--top", "0"], "top must be at least 1, got 0"),
    (["detect", "-m", "no-such-model"], "unknown model 'no-such-model': expected one of yolox-nano"),
    (["detect", "--classes", "unicorn"], "--classes: 'unicorn' is neither a class id 0–79 nor a label"),
    (["detect", "--classes", "999"], "--classes: '999' is neither a class id 0–79"),
])
def test_bad_options_give_one_line_and_exit_1(data_dir, tmp_path, args, message):
    proc = run_cli(*args, data_dir / "bus.jpg", cwd=tmp_path)
    assert proc.returncode == 1
    lines = stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"visioncast: error: {message}")
    assert "Traceback" not in proc.stderr


def test_debug_adds_the_traceback(tmp_path):
    plain = run_cli("detect", "-m", "no-such-model", "x.jpg", cwd=tmp_path)
    debug = run_cli("--debug", "detect", "-m", "no-such-model", "x.jpg", cwd=tmp_path)
    assert plain.returncode == debug.returncode == 1
    assert "Traceback" not in plain.stderr
    assert "Traceback (most recent call last)" in debug.stderr
    assert stderr_lines(plain)[0] in debug.stderr


def test_debug_adds_the_traceback_of_a_bad_image(tmp_path):
    debug = run_cli("--debug", "detect", "missing.jpg", cwd=tmp_path)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "visioncast.errors.InputError: image file not found" in debug.stderr


def test_show_without_display_says_why(data_dir, tmp_path):
    proc = run_cli("detect", data_dir / "bus.jpg", "--show", "--no-save", cwd=tmp_path)
    assert proc.returncode == 0
    assert "cannot show the image: no display (DISPLAY and WAYLAND_DISPLAY are unset)" in proc.stderr


@pytest.mark.skipif("NONE" not in cv2.getBuildInformation().split("GUI:")[1].splitlines()[0].upper(),
                    reason="this OpenCV build has GUI support")
def test_show_with_headless_opencv_says_why(data_dir, tmp_path):
    proc = run_cli("detect", data_dir / "bus.jpg", "--show", "--no-save", cwd=tmp_path,
                   env=cli_env(tmp_path, DISPLAY=":99"))
    assert proc.returncode == 0
    assert "this OpenCV has no GUI support" in proc.stderr


def test_family_flag_overrides_detection(tmp_path):
    out = np.zeros((1, 10, 8), np.float32)
    out[0, 0] = [32, 32, 20, 10, 1.0, 0, 0.75, 0]
    model = constant_model(tmp_path / "odd.onnx", {"out": out})
    cv2.imwrite(str(tmp_path / "wide.png"), np.full((64, 128, 3), 90, np.uint8))
    refused = run_cli("detect", "wide.png", "-m", model, cwd=tmp_path)
    assert refused.returncode == 1
    assert "cannot tell the detector family from inputs images[1, 3, 64, 64]; outputs out[1, 10, 8]" in (
        refused.stderr)
    assert "--family" in refused.stderr
    proc = run_cli("detect", "wide.png", "-m", model, "--family", "yolov5", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [det] = json.loads(proc.stdout)["detections"]
    assert (det["box"], det["label"], det["score"]) == ([44.0, 22.0, 84.0, 42.0], "bicycle", 0.75)


@pytest.fixture
def mood_model(tmp_path):
    labels = tmp_path / "moods.txt"
    labels.write_text("\n".join(MOODS) + "\n", encoding="utf-8")
    return classifier_model(tmp_path / "moods.onnx", [0.5, 3.0, 0.1, -1.0, 0.0]), labels


def test_chinese_labels_end_to_end(mood_model, data_dir, tmp_path):
    model, labels = mood_model
    image = data_dir / "cifar10" / "cifar10_00_3.png"
    text = run_cli("classify", image, "-m", model, "--labels", labels, "--top", "2", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "cifar10_00_3.png: 愤怒 (moods" in text.stdout
    rows = text.stdout.splitlines()[1:3]
    assert [r.split()[0] for r in rows] == ["愤怒", "开心"]
    # the scores line up on a terminal: two columns per Chinese character
    assert {2 + 2 * len(r.split()[0]) + r[2 + len(r.split()[0]):].index(r.split()[1]) for r in rows} == {17}
    proc = subprocess.run([sys.executable, "-m", "visioncast", "classify", str(image), "-m", str(model),
                           "--labels", str(labels), "--json"], cwd=tmp_path, env=cli_env(tmp_path),
                          capture_output=True, timeout=60, check=True)
    assert "愤怒".encode() in proc.stdout  # UTF-8, not \\u escapes
    payload = json.loads(proc.stdout.decode("utf-8"))
    assert [p["label"] for p in payload["predictions"]] == ["愤怒", "开心", "悲伤", "平静", "惊讶"]
    logits = np.array([0.5, 3.0, 0.1, -1.0, 0.0])
    probs = np.exp(logits) / np.exp(logits).sum()
    assert payload["predictions"][0]["score"] == pytest.approx(probs[1], abs=1e-4)


class Terminal:
    """A child process on a pseudo-terminal, read with a deadline."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                                     close_fds=True)
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, *, count: int = 1, timeout_s: float = 10) -> str:
        """Read until ``text`` has appeared ``count`` times in total; everything read so far."""
        deadline = time.monotonic() + timeout_s
        while self.seen.count(text) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{text!r} ×{count} not seen within {timeout_s} s; got:\n{self.seen}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"terminal closed before {text!r}; got:\n{self.seen}")
                self.seen += chunk.decode("utf-8", "replace")
        return self.seen

    def send(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=10)
            os.close(self.master)


def test_interactive_prompt_on_a_terminal(data_dir, tmp_path):
    prompt = "Image path (Enter = sample messi5.jpg, q = quit): "
    term = Terminal([sys.executable, "-m", "visioncast", "detect"], tmp_path, cli_env(tmp_path))
    try:
        term.expect(prompt)
        term.send(str(data_dir / "bus.jpg"))
        term.expect(prompt, count=2)
        assert f"{data_dir / 'bus.jpg'}: 5 detections (yolox-nano" in term.seen
        term.send("")  # Enter: the sample photo
        out = term.expect(prompt, count=3)
        assert "messi5.jpg: " in out
        term.send(str(tmp_path / "nope.jpg"))  # a bad path: an error, and the loop goes on
        out = term.expect(prompt, count=4)
        assert f"visioncast: error: image file not found: '{tmp_path / 'nope.jpg'}'" in out
        term.send("q")
    finally:
        code = term.close()
    assert code == 0
    assert "Traceback" not in term.seen
    assert sorted(p.name for p in (tmp_path / "visioncast_out").iterdir()) == ["bus.jpg", "messi5.jpg"]
