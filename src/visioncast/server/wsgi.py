"""The production HTTP server: the Flask app on cheroot's thread-pool WSGI server. I/O: listens on a socket.

cheroot (CherryPy's server) is pure Python, runs on Linux, macOS and Windows, keeps connections alive, and
supports TLS through an SSL adapter (``serve --tls``). Used by ``visioncast serve``, the tests (a real
server on 127.0.0.1, port 0, in a thread) and the benchmark.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from types import TracebackType
from typing import Any

from cheroot.wsgi import Server

from visioncast.errors import ConfigError

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 5
LISTEN_BACKLOG = 128  # cheroot's default of 5 refuses bursts such as 16 clients connecting at once


def _probe_bind(host: str, port: int) -> None:
    """Bind and release the address as cheroot will (SO_REUSEADDR off Windows): a busy port fails here,
    before cheroot, which leaks its socket when bind fails."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        if sys.platform != "win32":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


class HttpServer:
    """A WSGI app served by cheroot. ``start()`` binds (so errors surface at once); then ``serve_forever()``
    in this thread or ``start_in_thread()``; ``stop()`` closes the socket and joins the workers."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 5000, *, workers: int = 8,
                 ssl_adapter: Any | None = None) -> None:
        if workers < 1:
            raise ConfigError(f"server.workers must be at least 1, got {workers}")
        self.host = host
        self._server = Server((host, port), app, numthreads=workers, server_name="visioncast",
                              shutdown_timeout=STOP_TIMEOUT_S, request_queue_size=LISTEN_BACKLOG)
        if ssl_adapter is not None:
            self._server.ssl_adapter = ssl_adapter
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked)."""
        return int(self._server.bind_addr[1])

    @property
    def url(self) -> str:
        scheme = "https" if self._server.ssl_adapter is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> HttpServer:
        """Bind and start the worker threads; ConfigError naming the address when it cannot listen."""
        where = f"{self.host}:{self._server.bind_addr[1]}"
        try:
            _probe_bind(self.host, int(self._server.bind_addr[1]))
            self._server.prepare()
        except OSError as exc:
            raise ConfigError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
        return self

    def serve_forever(self) -> None:
        """Accept requests in this thread until :meth:`stop` (or Ctrl-C, which propagates)."""
        self._server.serve()

    def start_in_thread(self) -> HttpServer:
        self.start()
        self._thread = threading.Thread(target=self.serve_forever, name="visioncast-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            self._thread = None

    def __enter__(self) -> HttpServer:
        return self.start_in_thread()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
