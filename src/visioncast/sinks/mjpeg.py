"""MJPEG broadcasting: the latest annotated frame as ``multipart/x-mixed-replace`` to any number of viewers.

I/O: none by itself (the web server writes the bytes). A browser shows the stream with a plain ``<img
src=...>``, which replaced ffserver for the seed's course project. The pipeline hands every annotated frame to
:meth:`MjpegBroadcaster.publish_image`: without viewers it only keeps a reference; with viewers the frame is
JPEG-encoded once, in the producer's thread, and every viewer is woken. Each viewer is an
:class:`MjpegView` (a :class:`~visioncast.sinks.live.LiveBody`): the HTTP server writes it from its event
loop, so a viewer holds no request thread. A slow viewer skips to the newest frame instead of queueing old
ones (``skipped`` counts those frames).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from visioncast.errors import VisioncastError
from visioncast.jpeg import encode_jpeg
from visioncast.sinks.bus import Delivery
from visioncast.sinks.live import LiveBody

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
        self._views: set[MjpegView] = set()

    def deliver(self, delivery: Delivery) -> None:
        if delivery.frame is not None:
            self.publish_image(delivery.frame.image if delivery.annotated is None else delivery.annotated)

    def publish_image(self, image: np.ndarray) -> None:
        """Make ``image`` (BGR) the newest frame and wake the viewers (encoded here when there are any)."""
        with self._cond:
            self._image, self._jpeg = image, None
            self._seq += 1
            if self._views:  # encode once, in this thread, rather than in the server's event loop
                self._jpeg = self._encode(image)
            self._cond.notify_all()
        self._wake_views()

    def publish_jpeg(self, jpeg: bytes) -> None:
        """Make ``jpeg`` (already encoded elsewhere: a stream running on a Ray node) the newest frame."""
        with self._cond:
            self._image, self._jpeg = None, jpeg
            self._seq += 1
            self._cond.notify_all()
        self._wake_views()

    def _wake_views(self) -> None:
        with self._cond:
            views = list(self._views)
        for view in views:
            view.wake()

    def latest_jpeg(self) -> tuple[bytes | None, int]:
        """(JPEG bytes of the newest frame or None before the first, its sequence number)."""
        with self._cond:
            if self._jpeg is None and self._image is not None:
                self._jpeg = self._encode(self._image)
            return self._jpeg, self._seq

    def _encode(self, image: np.ndarray) -> bytes:
        try:
            return encode_jpeg(image, self.quality, max_width=self.max_width)
        except VisioncastError:
            return b""

    def newer_than(self, seq: int) -> tuple[bytes | None, int]:
        """The newest JPEG when its sequence number passes ``seq``, else (None, seq). Never blocks on news."""
        with self._cond:
            if self._seq <= seq or self._closed:
                return None, seq
            self.skipped += max(0, self._seq - seq - 1) if seq > 0 else 0
        return self.latest_jpeg()

    def view(self, on_close: Callable[[], None] | None = None) -> MjpegView:
        """A new viewer's body; ``on_close`` is called once when the viewer goes away."""
        view = MjpegView(self, on_close)
        with self._cond:
            self._views.add(view)
            self.viewers = len(self._views)
        return view

    def _forget(self, view: MjpegView) -> None:
        with self._cond:
            self._views.discard(view)
            self.viewers = len(self._views)

    @property
    def closed(self) -> bool:
        return self._closed

    def counters(self) -> dict[str, int]:
        return {"viewers": self.viewers, "sent": self.sent, "skipped": self.skipped}

    def close(self) -> None:
        """End every viewer's stream."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._wake_views()


class MjpegView(LiveBody):
    """One viewer of a :class:`MjpegBroadcaster`: multipart parts of the frames it has not seen yet."""

    def __init__(self, broadcaster: MjpegBroadcaster, on_close: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.broadcaster = broadcaster
        self._seq = 0
        self._on_close = on_close

    def poll(self) -> bytes | None:
        if self.closed or self.broadcaster.closed:
            return None
        jpeg, self._seq = self.broadcaster.newer_than(self._seq)
        if not jpeg:
            return b""
        with self.broadcaster._cond:  # viewers are polled from several threads
            self.broadcaster.sent += 1
        return _PART_HEAD.format(len(jpeg)).encode() + jpeg + b"\r\n"

    def on_close(self) -> None:
        self.broadcaster._forget(self)
        if self._on_close is not None:
            self._on_close()
