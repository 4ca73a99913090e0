"""Read ahead: frames decoded by a reader thread while the consumer works on earlier ones. I/O: a thread.

``with Prefetch(source, depth) as frames: for frame in frames: …`` overlaps decoding with inference (a video
job decodes frame n+1 while frame n is detected). Leaving the block stops and joins the reader, so the source
can be closed right after; a source error is raised in the consuming thread where it occurred.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from visioncast.core.types import Frame
from visioncast.errors import VisioncastError


class Prefetch:
    """Iterate ``frames`` decoded ahead by a reader thread (at most ``depth`` waiting).

    Leaving the ``with`` block stops and joins the reader, so the source can then be closed safely; an error
    of the source (SourceError…) is raised in the consuming thread when reached.
    """

    _END = object()

    def __init__(self, frames: Iterable[Frame], depth: int) -> None:
        self._frames = frames
        self._queue: queue.Queue[Any] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="visioncast-video-decode", daemon=True)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            for frame in self._frames:
                if not self._put(frame):
                    return
        except VisioncastError as exc:
            self._put(exc)
        finally:  # also after an unexpected error (threading reports it): never leave the consumer hanging
            self._put(self._END)

    def __iter__(self) -> Iterator[Frame]:
        while (item := self._queue.get()) is not self._END:
            if isinstance(item, VisioncastError):
                raise item
            yield item

    def __enter__(self) -> Prefetch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
