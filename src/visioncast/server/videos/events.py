"""The live results of a video job as Server-Sent Events (``GET /api/v1/videos/<id>/events``). I/O: none
(the HTTP server writes the text from its event loop, :class:`~visioncast.sinks.live.LiveBody`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from visioncast.server.videos.job import VideoJob
from visioncast.sinks.live import LiveBody

HEARTBEAT_S = 1.0


def _event(kind: str, data: Any, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class JobEvents(LiveBody):
    """SSE text of ``job``: ``state`` events, one ``result`` event per frame (id = frame index), then ``end``;
    a ``: keep-alive`` comment after ``HEARTBEAT_S`` without news.

    Holds a watcher on the job while the client is connected, so an open page keeps its job alive and a
    closed one lets it be cancelled.
    """

    heartbeat_s = HEARTBEAT_S

    def __init__(self, job: VideoJob, after_frame: int, on_close: Callable[[], None]) -> None:
        super().__init__()
        self.job, self._on_close = job, on_close
        self._sent = job.position_after(after_frame)
        self._begun = self._ended = False
        self._last_s = time.monotonic()
        job.watch(+1)
        job.listen(self.wake)

    def poll(self) -> bytes | None:
        if self._ended or self.closed:
            return None
        job, out = self.job, []
        if not self._begun:
            self._begun = True
            out += ["retry: 2000\n\n", _event("state", job.snapshot())]
        items, ended = job.wait(self._sent, 0.0)
        out += [_event("result", item, item["frame"]) for item in items]
        self._sent += len(items)
        job.touch()
        if ended:
            self._ended = True
            out += [_event("state", job.snapshot()),
                    _event("end", {"state": job.state, "frames_done": self._sent})]
        elif items:
            out.append(_event("state", job.snapshot()))
        elif not out and time.monotonic() - self._last_s >= 0.9 * HEARTBEAT_S:
            out.append(": keep-alive\n\n")
        if out:
            self._last_s = time.monotonic()
        return "".join(out).encode()

    def on_close(self) -> None:
        self.job.listen(self.wake, stop=True)
        self.job.watch(-1)
        self._on_close()
