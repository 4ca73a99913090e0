"""MJPEG broadcasting: the latest annotated frame as ``multipart/x-mixed-replace`` to any number of viewers.

I/O: none by itself (the web server writes the bytes). A browser shows the stream with a plain ``<img
src=...>``, which replaced ffserver for the seed's course project. The pipeline hands every annotated frame to
:meth:`MjpegBroadcaster.write`, which only keeps a reference; a frame is JPEG-encoded once, by the first
viewer that wants it, so there is no encoding cost without viewers. A slow viewer skips to the newest frame
instead of queueing old ones (``skipped`` counts those frames).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import cv2
import numpy as np

from visioncast.sinks.bus import Delivery

BOUNDARY = "frame"
CONTENT_TYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
_PART_HEAD = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {{}}\r\n\r\n"


class MjpegBroadcaster:
    """Holds the latest annotated frame; ``stream()`` yields multipart parts for one viewer."""

    needs_image = True

    def __init__(self, *, quality: int = 80, max_width: int = 1280) -> None:
        self.quality = quality
        self.max_width = max_width
        self.viewers = 0
        self.sent = 0
        self.skipped = 0
        self._cond = threading.Condition()
        self._image: np.ndarray | None = None
        self._jpeg: bytes | None = None
        self._seq = 0
        self._closed = False

    def deliver(self, delivery: Delivery) -> None:
        if delivery.frame is not None:
            self.publish_image(delivery.frame.image if delivery.annotated is None else delivery.annotated)

    def publish_image(self, image: np.ndarray) -> None:
        """Make ``image`` (BGR) the newest frame and wake the viewers."""
        with self._cond:
            self._image, self._jpeg = image, None
            self._seq += 1
            self._cond.notify_all()

    def publish_jpeg(self, jpeg: bytes) -> None:
        """Make ``jpeg`` (already encoded elsewhere: a stream running on a Ray node) the newest frame."""
        with self._cond:
            self._image, self._jpeg = None, jpeg
            self._seq += 1
            self._cond.notify_all()

    def latest_jpeg(self) -> tuple[bytes | None, int]:
        """(JPEG bytes of the newest frame or None before the first, its sequence number)."""
        with self._cond:
            if self._jpeg is None and self._image is not None:
                self._jpeg = self._encode(self._image)
            return self._jpeg, self._seq

    def _encode(self, image: np.ndarray) -> bytes:
        if image.shape[1] > self.max_width:
            scale = self.max_width / image.shape[1]
            image = cv2.resize(
                image, (self.max_width, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA
            )
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        return buf.tobytes() if ok else b""

    def wait_newer(self, seq: int, timeout_s: float) -> tuple[bytes | None, int]:
        """The newest JPEG once its sequence number passes ``seq``; (None, seq) on timeout or close."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq > seq or self._closed, timeout_s)
            if self._seq <= seq or self._closed:
                return None, seq
            self.skipped += max(0, self._seq - seq - 1) if seq > 0 else 0
        return self.latest_jpeg()

    def stream(self, *, idle_timeout_s: float = 1.0) -> Iterator[bytes]:
        """Multipart parts for one viewer until the broadcaster closes (or the viewer goes away)."""
        with self._cond:
            self.viewers += 1
        try:
            seq = 0
            while not self._closed:
                jpeg, seq = self.wait_newer(seq, idle_timeout_s)
                if jpeg:
                    with self._cond:  # viewers count from their own request threads
                        self.sent += 1
                    yield (_PART_HEAD.format(len(jpeg)).encode() + jpeg + b"\r\n")
        finally:
            with self._cond:
                self.viewers -= 1

    def counters(self) -> dict[str, int]:
        return {"viewers": self.viewers, "sent": self.sent, "skipped": self.skipped}

    def close(self) -> None:
        """End every viewer's stream."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
