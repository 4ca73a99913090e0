"""The production HTTP server: the Flask app on cheroot's thread-pool WSGI server. I/O: listens on a socket.

cheroot (CherryPy's server) is pure Python, runs on Linux, macOS and Windows, keeps connections alive, and
supports TLS through an SSL adapter (``serve --tls``). Used by ``visioncast serve``, the tests (a real
server on 127.0.0.1, port 0, in a thread) and the benchmark.

A worker thread reads a request while the client sends it, so slow clients could hold every worker (eight
sockets sending a byte a second stopped every request, ``/healthz`` included). Two limits keep workers free
(:class:`PacedConnection`): a request must arrive within ``read_timeout_s`` and then keep up
``min_read_bytes_per_s`` (a phone uploading a video over weak Wi-Fi does; a byte a second does not), else its
connection is closed; and one LAN address is served at most ``max_client_conns`` requests at once (a
browser opens at most six connections to a server) — beyond that it gets 503 at once. Loopback clients (this
computer) are not capped.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
import threading
import time
from collections import Counter
from types import TracebackType
from typing import Any

from cheroot.makefile import MakeFile, StreamReader
from cheroot.server import HTTPConnection
from cheroot.wsgi import Server

from visioncast.config import ServerConfig
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


class PacedSocketIO(socket.SocketIO):
    """A socket reader that refuses a request sent too slowly: the time spent waiting for its bytes may be
    ``grace_s`` plus one second per ``min_bytes_per_s`` received (time the app spends between reads does not
    count). Each read waits at most until that budget is spent, or ``idle_timeout_s``."""

    grace_s = 10.0
    min_bytes_per_s = 4096.0
    idle_timeout_s = 10.0
    _budget_s: float | None = None

    def __init__(self, sock: socket.socket, mode: str) -> None:
        super().__init__(sock, mode)  # type: ignore[arg-type,unused-ignore]  # typeshed: mode literals
        self.sock = sock

    def begin(self) -> None:
        """A new request starts: a fresh budget."""
        self._budget_s = self.grace_s

    def readinto(self, b: Any) -> int | None:
        if self._budget_s is None:
            return super().readinto(b)
        if self._budget_s <= 0:
            raise TimeoutError("timed out")  # cheroot answers 408 (when it can) and closes
        self.sock.settimeout(min(self.idle_timeout_s, self._budget_s))
        t0 = time.monotonic()
        try:
            n = super().readinto(b)
        finally:
            self._budget_s -= time.monotonic() - t0
        self._budget_s += (n or 0) / self.min_bytes_per_s
        return n


class PacedReader(StreamReader):
    """cheroot's socket reader over a :class:`PacedSocketIO`."""

    def __init__(self, sock: Any, bufsize: int, pace: tuple[float, float, float]) -> None:
        io_ = PacedSocketIO(sock, "rb")
        io_.grace_s, io_.min_bytes_per_s, io_.idle_timeout_s = pace
        super(StreamReader, self).__init__(io_, bufsize)  # StreamReader.__init__ would make a plain SocketIO
        self.bytes_read = 0


class ClientSlots:
    """How many requests each client address is being served. Thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.refused = 0
        self._busy: Counter[str] = Counter()
        self._lock = threading.Lock()

    def acquire(self, client: str) -> bool:
        if _is_loopback(client):
            return True
        with self._lock:
            if self._busy[client] >= self.limit:
                self.refused += 1
                return False
            self._busy[client] += 1
            return True

    def release(self, client: str) -> None:
        if _is_loopback(client):
            return
        with self._lock:
            self._busy[client] -= 1
            if self._busy[client] <= 0:
                del self._busy[client]


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


_BUSY_TEXT = b"too many requests from your address at once; retry in a moment\n"
BUSY_ANSWER = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\n"
               b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_TEXT), _BUSY_TEXT))


class PacedConnection(HTTPConnection):
    """A cheroot connection with the read pace of :class:`PacedSocketIO` and the per-client cap."""

    pace: tuple[float, float, float] = (10.0, 4096.0, 10.0)
    slots: ClientSlots | None = None

    def __init__(self, server: Any, sock: Any, makefile: Any = MakeFile) -> None:
        super().__init__(server, sock, makefile)
        self.rfile = PacedReader(sock, self.rbufsize, self.pace)

    def communicate(self) -> bool:
        client = str(getattr(self, "remote_addr", "") or "")
        if self.slots is not None and not self.slots.acquire(client):
            try:
                self.wfile.write(BUSY_ANSWER)
                self.wfile.flush()
            except OSError:
                pass  # the client went away: nothing to tell it
            return False
        try:
            self.rfile.raw.begin()
            return bool(super().communicate())
        finally:
            if self.slots is not None:
                self.slots.release(client)


def _limits_of(app: Any) -> ServerConfig:
    """The ``server`` section of a visioncast app (the defaults for any other WSGI app)."""
    services = getattr(app, "extensions", {}).get("visioncast")
    return services.config.server if services is not None else ServerConfig()


class HttpServer:
    """A WSGI app served by cheroot. ``start()`` binds (so errors surface at once); then ``serve_forever()``
    in this thread or ``start_in_thread()``; ``stop()`` closes the socket and joins the workers."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 5000, *, workers: int = 8,
                 ssl_adapter: Any | None = None, limits: ServerConfig | None = None) -> None:
        if workers < 1:
            raise ConfigError(f"server.workers must be at least 1, got {workers}")
        if not 0 <= port <= 65535:
            raise ConfigError(f"server.port must be 0–65535, got {port}")
        limits = limits or _limits_of(app)
        self.host = host
        self._server = Server((host, port), app, numthreads=workers, server_name="visioncast",
                              shutdown_timeout=STOP_TIMEOUT_S, request_queue_size=LISTEN_BACKLOG)
        self.slots = ClientSlots(max(1, limits.max_client_conns))
        if limits.max_client_conns >= workers:
            log.warning("server.max_client_conns (%d) is not below server.workers (%d): one client can still "
                        "occupy every worker", limits.max_client_conns, workers)
        self._server.ConnectionClass = type("Connection", (PacedConnection,), {
            "pace": (limits.read_timeout_s, limits.min_read_bytes_per_s, limits.read_timeout_s),
            "slots": self.slots})
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
