"""Sources: the I/O edge that yields Frames (images, uploaded bytes; video, camera and streams).

``open_source(spec)`` picks the source for a command-line style spec; every source it returns satisfies
:class:`Source`: iterate it for Frames, read ``name``/``fps``/``live``/``frame_count``, ``stop()`` it from
another thread, ``counters()`` for bad frames, gaps and reconnects, ``close()`` it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from visioncast.core.types import Frame
from visioncast.errors import SourceError
from visioncast.sources.folder import open_images
from visioncast.sources.image import IMAGE_SUFFIXES
from visioncast.sources.stream import STREAM_SCHEMES, CaptureSource
from visioncast.sources.video import open_video

CAMERA_WORDS = ("cam", "camera", "webcam")


class Source(Protocol):
    """A stream of Frames; ``live`` sources (camera, network) never end by themselves."""

    name: str
    fps: float
    live: bool
    frame_count: int | None

    def __iter__(self) -> Iterator[Frame]: ...

    def stop(self) -> None: ...

    def counters(self) -> dict[str, int]: ...

    def close(self) -> None: ...


def open_source(spec: str | int, *, fps: float = 1.0) -> Source:
    """Open ``spec``: ``CAM`` or a camera index, an rtsp/http(s)/… URL, an image, a folder of images, or a
    video file. SourceError with one line naming the spec when it cannot be opened. ``fps`` paces folders."""
    text = str(spec).strip()
    if isinstance(spec, int) or text.isdigit():
        return CaptureSource(int(text))
    if text.lower() in CAMERA_WORDS:
        return CaptureSource(0)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme:
        if scheme not in STREAM_SCHEMES:
            raise SourceError(f"stream URL scheme must be one of {', '.join(STREAM_SCHEMES)}, got {scheme!r}")
        return CaptureSource(text)
    path = Path(text).expanduser()
    if not path.exists():
        raise SourceError(
            f"source not found: '{text}' (expected an image, a video, a folder of images, "
            f"CAM or a camera index, or an rtsp/http(s) URL)"
        )
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return open_images(path, fps=fps)
    return open_video(path)
