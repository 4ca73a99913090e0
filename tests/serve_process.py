"""A real ``visioncast serve`` process for tests that restart or kill the server, and helpers around it:
a longer video made from a test clip, and a wait that fails only when nothing moves for 10 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import requests

from visioncast.sources.video import open_video

WAIT_S = 10.0


def repeated(source: Path, times: int, path: Path, fourcc: str = "MJPG") -> Path:
    """``source`` ``times`` times over, encoded with ``fourcc`` (MJPG for an AVI, vp09 for an MP4 a browser
    plays): a job long enough to be killed in the middle."""
    with open_video(source) as video:
        frames, fps = [f.image for f in video], video.fps
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, frames[0].shape[1::-1])
    for _ in range(times):
        for image in frames:
            writer.write(image)
    writer.release()
    return path


def wait_until(check: Callable[[], Any], what: str, progress: Callable[[], Any] = lambda: None) -> Any:
    """Poll ``check`` until it returns something true; fails after WAIT_S without a change of ``progress``."""
    deadline, last = time.monotonic() + WAIT_S, progress()
    while not (value := check()):
        if (now := progress()) != last:
            deadline, last = time.monotonic() + WAIT_S, now
        assert time.monotonic() < deadline, f"{what}: nothing happened for {WAIT_S} s"
        time.sleep(0.05)
    return value


class Served:
    """``visioncast serve`` on ``port`` with its data under ``home`` (XDG_DATA_HOME), more ``flags`` and
    ``env``; the ``serve`` fixture of tests/conftest.py starts one and stops it at teardown."""

    def __init__(self, home: Path, port: int, *flags: str, env: dict[str, str] | None = None) -> None:
        command = [sys.executable, "-m", "visioncast", "serve", "--port", str(port), "--workers", "4",
                   "--mqtt", "off", *flags]
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = home / f"serve-{port}-{time.monotonic_ns()}.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(command, stdout=self._out, stderr=subprocess.STDOUT,
                                     env={**os.environ, "XDG_DATA_HOME": str(home), **(env or {})})
        wait_until(self._ready, f"serve on port {port} did not start ({self.log.read_text()[-2000:]})",
                   lambda: self.log.stat().st_size)

    def _ready(self) -> bool:
        assert self.proc.poll() is None, f"serve ended: {self.log.read_text()[-2000:]}"
        try:
            return requests.get(f"{self.url}/readyz", timeout=WAIT_S).status_code == 200
        except requests.ConnectionError:
            return False

    def api(self, path: str = "", method: str = "GET", **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.url}/api/v1/videos{path}", timeout=WAIT_S, **kwargs)

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: nothing is closed, flushed or saved on the way out
        self.proc.wait(WAIT_S)
        self._out.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(WAIT_S)
        self._out.close()
