"""Video files in: OpenCV decoding into Frames with their media timestamps. I/O: reads files.

``open_video(path)`` checks the file opens and has frames before anything else runs, so a truncated or
non-video file is refused with a clear SourceError up front; so is a still image under a video's name (FFmpeg
would open a renamed JPEG as a video of frames it cannot seek back to, and the run would end with 0 frames). A
frame that cannot be decoded in the middle of a file (the container says more frames follow) is counted in
``bad_frames`` and skipped, up to ``MAX_BAD_IN_ROW`` in a row; ``stop()`` ends the iteration from another
thread. ``start_frame`` skips the frames before it (grabbed, not converted) while keeping the file's frame
indices and timestamps: a video job resumed after a server restart goes on where it stopped. ``max_pixels``
bounds every decoded frame, whatever the container's header said (an upload may claim 640×480 and carry
10000×10000 frames): a frame over it ends the iteration with a TooLargeError naming its size.

Files are decoded on one thread (``CAP_PROP_N_THREADS`` = 1): the model already keeps the cores busy, and
FFmpeg's own decoder threads cost CPU in hand-offs — on vtest.avi (768×576) one thread took 1.5 instead of
2.0 CPU-ms per MJPG frame and 0.5 instead of 0.8 per MPEG-4 frame (docs/benchmarks.md), time the model gets.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from visioncast.core.types import Frame
from visioncast.errors import SourceError, TooLargeError
from visioncast.sources.image import FORMATS, image_kind

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
MAX_BAD_IN_ROW = 25


class VideoFileSource:
    """Frames of a video file, in order: ``for frame in source``. Use as a context manager to release it."""

    live = False

    def __init__(self, path: str | Path, *, start_frame: int = 0, max_pixels: int | None = None) -> None:
        self.path = Path(path)
        self.start_frame = start_frame
        self.max_pixels = max_pixels
        self.bad_frames = 0
        self._stop = threading.Event()
        if not self.path.is_file():
            raise SourceError(f"video file not found: '{self.path}'")
        self._cap = _open_capture(self.path)
        if not self._cap.isOpened():
            why = _container_problem(self.path) or "OpenCV could not decode it"
            raise SourceError(f"cannot open '{self.path.name}' as a video ({why})")
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS)) or 25.0
        self.frame_count: int | None = max(0, int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT)))
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.name = self.path.name
        if self.width <= 0 or self.height <= 0:
            self.close()
            raise SourceError(f"'{self.path.name}' has no video stream")

    def __iter__(self) -> Iterator[Frame]:
        index, bad_in_row = 0, 0
        while not self._stop.is_set():
            skip = index < self.start_frame
            ok, image = (self._cap.grab(), None) if skip else self._cap.read()
            if ok and (skip or image is not None):
                bad_in_row = 0
                if image is not None:
                    self._check_size(image, index)
                    yield Frame(image, index, index / self.fps, self.name)
                index += 1
                continue
            # A failed read before the announced end is a damaged frame: skip it (counted), else the end.
            if index >= (self.frame_count or 0) - 1 or bad_in_row >= MAX_BAD_IN_ROW:
                return
            self.bad_frames += 1
            bad_in_row += 1
            index += 1

    def _check_size(self, image: np.ndarray, index: int) -> None:
        h, w = image.shape[:2]
        if self.max_pixels is not None and w * h > self.max_pixels:
            raise TooLargeError(f"frame {index} of '{self.name}' is {w}×{h} = {w * h / 1e6:.1f} megapixels; "
                                f"the limit is {self.max_pixels / 1e6:.1f} megapixels (server.max_pixels)",
                                code="video_too_large")

    def stop(self) -> None:
        """End the iteration from another thread."""
        self._stop.set()

    def counters(self) -> dict[str, int]:
        return {"bad_frames": self.bad_frames, "gaps": 0, "reconnects": 0}

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> VideoFileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_video(path: str | Path) -> VideoFileSource:
    """Open a video file; SourceError when it is missing, a still image, undecodable or has no frame."""
    kind = image_kind(path)
    if kind in FORMATS:  # not GIF: FFmpeg plays an animated GIF
        raise SourceError(f"'{Path(path).name}' is not a video: it is a {kind} image (give it an image "
                          f"name such as .jpg to run on it as a still)")
    source = VideoFileSource(path)
    ok, _ = source._cap.read()
    if not ok:
        source.close()
        raise SourceError(f"'{source.name}' contains no decodable video frame")
    source._cap.release()  # opened again rather than sought back: some demuxers (a still GIF) say they
    source._cap = _open_capture(source.path)  # went back to frame 0 and then read nothing
    return source


def _open_capture(path: Path) -> cv2.VideoCapture:
    """A capture decoding on one thread where the backend takes the setting, else OpenCV's default."""
    one_thread = getattr(cv2, "CAP_PROP_N_THREADS", None)
    if one_thread is not None:
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [one_thread, 1])
        if cap.isOpened():
            return cap
        cap.release()
    return cv2.VideoCapture(str(path))


def _container_problem(path: Path) -> str:
    """Why an MP4/MOV file does not open, read from its top-level boxes ('' when nothing is seen wrong): the
    one line of ours FFmpeg's "moov atom not found" becomes (its own log is silenced, cli/main.py)."""
    if path.suffix.lower() not in (".mp4", ".mov", ".m4v"):
        return ""
    kinds: set[bytes] = set()
    pos = 0
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            while pos + 8 <= size and len(kinds) < 64:
                fh.seek(pos)
                head = fh.read(16)
                box, kind = int.from_bytes(head[:4], "big"), head[4:8]
                box = int.from_bytes(head[8:16], "big") if box == 1 else (size - pos if box == 0 else box)
                if box < 8:
                    break
                kinds.add(kind)
                pos += box
    except OSError:
        return ""
    if b"ftyp" in kinds and b"moov" not in kinds:
        return "it has no 'moov' index: the recording was cut off or the file is incomplete"
    return ""
