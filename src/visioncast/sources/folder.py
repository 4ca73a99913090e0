"""Still images as a source: one image file, or a folder of images played in name order. I/O: reads files.

A folder plays as a sequence at ``fps`` frames per second of media time (default 1), so events and dwell times
have a time base. Which of a folder's files are images is the decoder's to say, from their data
(:func:`folder_files` lists every file but hidden ones): a file that is not an image it decodes (a GIF, a
text file, a damaged photo) is counted in ``bad_frames`` and skipped; a single image that cannot be read is a
SourceError at open time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from visioncast.core.types import Frame
from visioncast.errors import InputError, SourceError
from visioncast.sources.image import read_image

log = logging.getLogger(__name__)


class ImageFilesSource:
    """Frames of image files in the given order; ``still`` is True for a single image (output = an image)."""

    live = False

    def __init__(self, paths: Sequence[Path], *, name: str, fps: float = 1.0) -> None:
        if not paths:
            raise SourceError(f"'{name}' holds no files (expected images: JPEG, PNG, HEIC, …)")
        self.paths = list(paths)
        self.name = name
        self.fps = fps
        self.frame_count: int | None = len(self.paths)
        self.still = len(self.paths) == 1
        self.bad_frames = 0
        self._stop = threading.Event()
        self.width = self.height = 0
        if self.still:
            try:
                self._first = read_image(self.paths[0])
            except InputError as exc:
                raise SourceError(f"cannot read image source: {exc}") from exc
            self.height, self.width = self._first.shape[:2]

    def __iter__(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            if self._stop.is_set():
                return
            try:
                image = self._first if self.still else read_image(path)
            except InputError as exc:
                self.bad_frames += 1
                log.warning("skipping unreadable image %s: %s", path, exc)
                continue
            yield Frame(image, index, index / self.fps, path.name)

    def stop(self) -> None:
        self._stop.set()

    def counters(self) -> dict[str, int]:
        return {"bad_frames": self.bad_frames, "gaps": 0, "reconnects": 0}

    def close(self) -> None:
        self._stop.set()

    def __enter__(self) -> ImageFilesSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def folder_files(folder: Path) -> list[Path]:
    """The files of ``folder`` in name order, every one but hidden ones (a name starting with '.', such as
    macOS's .DS_Store and ._IMG_0001.HEIC copies): whether each is an image is for the decoder to say."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file())


def open_images(path: str | Path, *, fps: float = 1.0) -> ImageFilesSource:
    """An image file or a folder of images (sorted by name) as a source."""
    path = Path(path).expanduser()
    if path.is_dir():
        return ImageFilesSource(folder_files(path), name=path.name or str(path), fps=fps)
    return ImageFilesSource([path], name=path.name, fps=fps)
