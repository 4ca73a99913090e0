"""A response body made over time by other threads: an MJPEG view, a Server-Sent Events stream. I/O: none.

A viewer of a stream may watch for an hour; a thread per viewer (a WSGI worker held by a generator) let
eight phones stop the server. A :class:`LiveBody` is instead *driven*: the HTTP server
(``server/wsgi.py``) registers a wake-up with :meth:`LiveBody.subscribe`, calls :meth:`LiveBody.poll` (which
never blocks) when it is woken or ``heartbeat_s`` passed, writes what it got from its event loop, and calls
:meth:`LiveBody.close` when the client goes away or the server stops. The producer (a pipeline thread, a
video job) calls :meth:`LiveBody.wake` when there is news. Any other WSGI server, and Flask's test client,
simply iterates the body: :meth:`LiveBody.__iter__` blocks on the same wake-ups.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator


class LiveBody:
    """Base of the long-lived bodies. Subclasses implement :meth:`poll` and may extend :meth:`close`."""

    heartbeat_s = 1.0

    def __init__(self) -> None:
        self._wakes: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self.closed = False

    def poll(self) -> bytes | None:
        """The bytes to send now (``b""``: nothing new yet), or None when the body has ended. Never blocks."""
        raise NotImplementedError

    def subscribe(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (from any thread, so it must be cheap and thread-safe) whenever there is news."""
        with self._lock:
            self._wakes.append(wake)

    def wake(self) -> None:
        """Tell the writer that :meth:`poll` may have something (called by the producer's thread)."""
        with self._lock:
            wakes = list(self._wakes)
        for wake in wakes:
            wake()

    def close(self) -> None:
        """The client went away or the server stops: release what the body holds. Idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self.on_close()
        self.wake()

    def on_close(self) -> None:
        """What a subclass releases when the body closes (called once)."""

    def __iter__(self) -> Iterator[bytes]:
        """The blocking form, for WSGI servers that iterate bodies in a thread (and the test client)."""
        news = threading.Event()
        self.subscribe(news.set)
        while (chunk := self.poll()) is not None:
            if chunk:
                yield chunk
            else:
                news.wait(self.heartbeat_s)
                news.clear()
