"""Annotated output files: a video (mp4/avi) at the source's fps, or an image for an image source. I/O:
writes.

The writer opens at the first frame (its size fixes the video's size; later frames of another size, e.g. after
a stream reconnects at a new resolution, are resized to it). ``close()`` finalises the container, so a run
stopped with Ctrl-C still leaves a playable file. Codecs: MPEG-4 Part 2 (``mp4v``) in .mp4, Motion-JPEG in
.avi — both are in every OpenCV build and play in common players — and VP8 in .webm, which every browser plays
(the pip wheels of OpenCV encode it; H.264 they do not).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from visioncast.errors import SinkError
from visioncast.sinks.bus import Delivery
from visioncast.sources.image import WRITABLE_SUFFIXES

log = logging.getLogger(__name__)

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG", ".webm": "VP80"}


class VideoFileSink:
    """Writes annotated frames to ``path``: a video for a stream of frames, an image when ``still``."""

    needs_image = True

    def __init__(self, path: str | Path, *, fps: float, still: bool = False) -> None:
        self.path = Path(path).expanduser()
        suffix = self.path.suffix.lower()
        self.still = still
        if still and suffix not in WRITABLE_SUFFIXES:
            raise SinkError(
                f"output for an image source must be an image file ({', '.join(WRITABLE_SUFFIXES)}), "
                f"got '{self.path.name}'"
            )
        if not still and suffix not in FOURCC:
            raise SinkError(f"video output must end in {', '.join(FOURCC)}, got '{self.path.name}'")
        if not self.path.parent.is_dir():
            raise SinkError(f"output folder does not exist: '{self.path.parent}'")
        self.fps = fps if fps > 0 else 25.0
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None

    def deliver(self, delivery: Delivery) -> None:
        """Write the delivery's annotated image (the frame itself when nothing was drawn)."""
        if delivery.frame is not None:
            self.write(delivery.frame.image if delivery.annotated is None else delivery.annotated)

    def write(self, image: np.ndarray) -> None:
        """Append one BGR image (or write the still image)."""
        if self.still:
            if not cv2.imwrite(str(self.path), image):
                raise SinkError(f"cannot write annotated image to '{self.path}'")
            self.frames += 1
            return
        if self._writer is None:
            self._open(image.shape[1], image.shape[0])
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)  # type: ignore[union-attr]
        self.frames += 1

    def _open(self, width: int, height: int) -> None:
        fourcc = cv2.VideoWriter.fourcc(*FOURCC[self.path.suffix.lower()])
        writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (width, height))
        if not writer.isOpened():
            raise SinkError(f"cannot open '{self.path}' for writing a {width}×{height} video")
        self._writer, self._size = writer, (width, height)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            log.info("wrote %d frames to %s", self.frames, self.path)
