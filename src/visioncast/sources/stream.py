"""Live sources: cameras (``CAM``, an index) and network streams (rtsp, http(s) MJPEG…) through OpenCV. I/O.

One class for both, as norfair does. A live source never ends by itself: when reading fails it is *lost*, the
capture is released and reopened with exponential backoff (``backoff_s`` doubling up to ``max_backoff_s``);
every loss is counted in ``gaps`` and each successful reopen in ``reconnects``. A frame that arrives empty or
malformed is counted in ``bad_frames`` and skipped. Media time of a live frame = seconds since the source
opened (monotonic clock), so events and dwell times stay meaningful across reconnects.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import cv2
import numpy as np

from visioncast.core.types import Frame
from visioncast.errors import InputError, SourceError

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
_BAD_READS_BEFORE_LOST = 3


def _describe(spec: int | str) -> str:
    return f"camera {spec}" if isinstance(spec, int) else f"'{spec}'"


class CaptureSource:
    """Frames of a camera (int index) or a stream URL; iterate it, ``stop()`` it from another thread."""

    live = True
    frame_count: int | None = None

    def __init__(
        self,
        spec: int | str,
        *,
        name: str | None = None,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_retries: int | None = None,
    ) -> None:
        self.spec = spec
        self.name = name or (f"camera{spec}" if isinstance(spec, int) else str(spec).split("?")[0])
        self.open_timeout_s, self.read_timeout_s = open_timeout_s, read_timeout_s
        self.backoff_s, self.max_backoff_s, self.max_retries = backoff_s, max_backoff_s, max_retries
        self.bad_frames = self.gaps = self.reconnects = 0
        self._stop = threading.Event()
        self._cap = self._open()
        if self._cap is None:
            raise SourceError(
                f"cannot open {_describe(spec)}: OpenCV could not read from it "
                f"(check the device index or URL, and that the stream is running)"
            )
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not 0.5 <= self.fps <= 240:
            self.fps = 25.0
        self._t0 = time.monotonic()

    def _open(self) -> cv2.VideoCapture | None:
        ms = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self.read_timeout_s * 1000),
        ]
        try:
            if isinstance(self.spec, int):
                cap = cv2.VideoCapture(self.spec)
            else:
                cap = cv2.VideoCapture(self.spec, cv2.CAP_FFMPEG, ms)
        except cv2.error as exc:
            log.warning("opening %s failed: %s", _describe(self.spec), exc)
            return None
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    def __iter__(self) -> Iterator[Frame]:
        index, bad_in_row = 0, 0
        while not self._stop.is_set():
            ok, image = self._cap.read() if self._cap is not None else (False, None)
            if ok and isinstance(image, np.ndarray) and image.size:
                try:
                    frame = Frame(image, index, time.monotonic() - self._t0, self.name)
                except InputError:
                    self.bad_frames += 1
                    continue
                bad_in_row = 0
                index += 1
                yield frame
                continue
            bad_in_row += 1
            if ok:  # the capture answered but the frame is empty
                self.bad_frames += 1
            if not ok or bad_in_row >= _BAD_READS_BEFORE_LOST:
                self._reconnect()
                bad_in_row = 0

    def _reconnect(self) -> None:
        """Release and reopen with exponential backoff until it works, stop() is called or retries run out."""
        self.gaps += 1
        log.warning("%s lost (gap %d); reconnecting", _describe(self.spec), self.gaps)
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        delay, tries = self.backoff_s, 0
        while not self._stop.wait(delay):
            tries += 1
            self._cap = self._open()
            if self._cap is not None:
                self.reconnects += 1
                log.warning("%s back after %d attempt(s)", _describe(self.spec), tries)
                return
            if self.max_retries is not None and tries >= self.max_retries:
                raise SourceError(f"{_describe(self.spec)} lost and not back after {tries} attempts")
            delay = min(delay * 2, self.max_backoff_s)

    def stop(self) -> None:
        """End the iteration from another thread (also interrupts a reconnect wait)."""
        self._stop.set()

    def counters(self) -> dict[str, int]:
        return {"bad_frames": self.bad_frames, "gaps": self.gaps, "reconnects": self.reconnects}

    def close(self) -> None:
        self._stop.set()
        if self._cap is not None:
            self._cap.release()

    def __enter__(self) -> CaptureSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
