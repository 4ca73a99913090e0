"""The server window a teacher reads: on the README's flows (a photo, a video upload, a cut-off video, a
mistyped address, a page for the teacher only) it holds visioncast's own lines only — no FFmpeg "moov atom
not found", no OpenCV "[ WARN:0@…] global cap.cpp…" — a refused request names its error code, and
`visioncast run` on a cut-off video or a missing camera ends with one line of ours."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import requests
from tests.integration.cli_run import cli_env, run_cli
from tests.integration.test_serve_cli import _end, _lines, _wait_for
from tests.mqtt_peers import free_port

WAIT_S = 10.0
NOISE = ("moov atom", "[ WARN", "cap.cpp", "cap_v4l", "[mov,mp4", "OPENCV", "Traceback")


def _cut(data_dir: Path, path: Path) -> Path:
    path.write_bytes((data_dir / "vtest_clip.mp4").read_bytes()[:30000])  # a recording cut off: no index
    return path


def test_the_server_window_has_only_our_lines(tmp_path: Path, data_dir: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "visioncast", "serve", "--port", str(port), "--mqtt", "off"]
    proc = subprocess.Popen(command,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
                            env=cli_env(tmp_path))
    (queue, pump), seen = _lines(proc), []
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(queue, "press Ctrl-C to stop", seen)
        photo = {"image": ("bus.jpg", (data_dir / "bus.jpg").read_bytes())}
        assert requests.post(f"{url}/api/v1/detect", files=photo, timeout=WAIT_S).status_code == 200
        cut = _cut(data_dir, tmp_path / "cut.mp4").read_bytes()
        refused = requests.post(f"{url}/api/v1/videos", files={"video": ("cut.mp4", cut)}, timeout=WAIT_S)
        assert refused.status_code == 400
        assert "no 'moov' index: the recording was cut off" in refused.json()["message"]
        line = _wait_for(queue, "POST /api/v1/videos 400", seen)
        assert line.rstrip().endswith(f"  {refused.json()['error']}")
        assert requests.get(f"{url}/nothing-here", timeout=WAIT_S).status_code == 404
        assert _wait_for(queue, "GET /nothing-here 404", seen).rstrip().endswith("  not_found")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT_S) == 0
    finally:
        _end(proc, pump)
    window = "".join(seen) + "".join(iter(queue.get_nowait, None))
    assert [n for n in NOISE if n in window] == [], window


def test_run_ends_with_one_line_of_ours(tmp_path: Path, data_dir: Path) -> None:
    cut = run_cli("run", "-i", _cut(data_dir, tmp_path / "cut.mp4"), cwd=tmp_path)
    assert cut.returncode == 1
    assert cut.stderr.strip() == ("visioncast: error: cannot open 'cut.mp4' as a video (it has no 'moov' "
                                  "index: the recording was cut off or the file is incomplete)")
    camera = run_cli("run", "-i", "7", cwd=tmp_path)  # no camera 7 on a test machine
    assert camera.returncode == 1
    assert camera.stderr.strip().startswith("visioncast: error: cannot open camera 7")
    assert len(camera.stderr.strip().splitlines()) == 1, camera.stderr
