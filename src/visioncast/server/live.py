"""Long-lived answers (MJPEG views, Server-Sent Events): their caps and their Flask response. I/O: none.

A live answer holds no worker (the HTTP server writes a :class:`~visioncast.sinks.live.LiveBody` from its
event loop), but each costs a socket and a little memory, so there are at most ``server.max_live`` of them
at once and at most ``server.max_client_live`` per LAN address (a phone's page needs one or two; loopback
counts towards the total only). Past either, 429 ``too_many_viewers``: closing a tab frees its slot at once.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from flask import Flask, Response, current_app

from visioncast.errors import InputError
from visioncast.network import is_loopback
from visioncast.sinks.live import LiveBody

EXTENSION = "visioncast.live"


class TooManyViewersError(InputError):
    """Too many live answers at once, for the server or for one address (HTTP 429)."""

    code = "too_many_viewers"
    http_status = 429


class LiveSlots:
    """How many live answers are open, in all and per client address. Thread-safe."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total, self.per_client = total, per_client
        self.refused = 0
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def acquire(self, client: str) -> None:
        """Take a slot for ``client``; TooManyViewersError when none is left."""
        capped = not is_loopback(client)
        with self._lock:
            if sum(self._open.values()) >= self.total:
                self.refused += 1
                raise TooManyViewersError(f"the server already has {self.total} live views open "
                                          "(server.max_live); close one and retry")
            if capped and self._open[client] >= self.per_client:
                self.refused += 1
                raise TooManyViewersError(f"your address already has {self.per_client} live views open "
                                          "(server.max_client_live); close a tab and retry")
            self._open[client] += 1

    def release(self, client: str) -> None:
        with self._lock:
            self._open[client] -= 1
            if self._open[client] <= 0:
                del self._open[client]

    def count(self) -> int:
        with self._lock:
            return sum(self._open.values())


def slots_of(app: Flask) -> LiveSlots:
    slots = app.extensions.get(EXTENSION)
    if slots is None:
        cfg = app.extensions["visioncast"].config.server
        slots = app.extensions[EXTENSION] = LiveSlots(cfg.max_live, cfg.max_client_live)
    return slots


def live_response(make: Any, client: str, *, mimetype: str,
                  headers: dict[str, str] | None = None) -> Response:
    """The response of a live body: takes ``client``'s slot, then ``make(release)`` builds the body, which
    must call ``release`` once when it closes."""
    slots = slots_of(current_app)
    slots.acquire(client)
    try:
        body: LiveBody = make(lambda: slots.release(client))
    except BaseException:
        slots.release(client)
        raise
    return Response(body, mimetype=mimetype, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no",
                                                      **(headers or {})}, direct_passthrough=True)
