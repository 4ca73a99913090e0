"""The production HTTP server: the Flask app behind an asyncio event loop. I/O: listens on a socket.

Why this shape (docs/architecture.md, "The HTTP server"): a class of thirty phones uploads over weak Wi-Fi
and keeps MJPEG views and event streams open for a whole lesson. A thread-pool server (cheroot) gives each
of those a worker for as long as it lasts, so eight viewers or a few slow uploads stopped every request.
Here one event-loop thread reads every connection (:mod:`visioncast.server.http1`, h11 for the protocol) and
a request gets one of ``workers`` threads only once its head and body are in (``/healthz`` and ``/readyz``
have a thread of their own, so a busy class never delays a health check); the app's answer is written
back by the loop, so a slow reader holds no worker either. Long-lived answers (a
:class:`~visioncast.sinks.live.LiveBody`: MJPEG views, Server-Sent Events) and files are written by the loop
alone. TLS is the event loop's own (``ssl_context``); with it, one port speaks both: each new connection's
first byte says whether it opens a TLS handshake (0x16) or is plain HTTP, so ``http://`` and ``https://`` on
the same address both answer (plain HTTP from another device then gets the page explaining the certificate
warning, :mod:`visioncast.server.secure`). Used by ``visioncast serve``, ``run --serve``, the
tests (a real server on 127.0.0.1, port 0, in a thread) and the benchmarks.

Limits (config ``server``): see :class:`~visioncast.server.http1.Limits`; besides those, at most
``max_conns`` connections are open at once (more are closed at once) and at most ``max_buffer_mb`` of
request bodies are held in memory at once (more is 503).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
import sys
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from visioncast.config import Config, ServerConfig
from visioncast.errors import ConfigError
from visioncast.network import is_loopback, port_owner
from visioncast.server.http1 import Connection, Limits, Request
from visioncast.server.wsgi_app import Answer, call_app, write_answer

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 5
LISTEN_BACKLOG = 128  # bursts such as 16 clients connecting at once
# Probes answered by a worker of their own, never queued behind inference requests (30 webcam clients keep
# every worker busy; a health check must still say "up" at once).
HEALTH_PATHS = (b"/healthz", b"/readyz")
HTTPS_KEY = "visioncast.https"  # WSGI environ: True when this port also answers https
TLS_HANDSHAKE = b"\x16"  # the first byte of every TLS connection (a handshake record)


class ClientSlots:
    """How many requests each client address is being served. Loopback is not capped. Thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.refused = 0
        self._busy: Counter[str] = Counter()
        self._lock = threading.Lock()

    def acquire(self, client: str) -> bool:
        if is_loopback(client):
            return True
        with self._lock:
            if self._busy[client] >= self.limit:
                self.refused += 1
                return False
            self._busy[client] += 1
            return True

    def release(self, client: str) -> None:
        if is_loopback(client):
            return
        with self._lock:
            self._busy[client] -= 1
            if self._busy[client] <= 0:
                del self._busy[client]


def limits_of(cfg: Config | None) -> tuple[ServerConfig, Limits]:
    """The ``server`` section and the connection limits for an app's config (the defaults without one). The
    body limit is the largest any route takes (video uploads, teach imports); routes check their own."""
    server = cfg.server if cfg is not None else ServerConfig()
    max_body_mb = server.max_body_mb
    if cfg is not None:
        max_body_mb = max(max_body_mb, cfg.videos.max_upload_mb, cfg.teach.max_import_mb)
    return server, Limits(
        max_request_line=int(server.max_request_line_kb * 1024), max_head=int(server.max_header_kb * 1024),
        max_headers=server.max_headers, max_body=int(max_body_mb * 1024 * 1024),
        grace_s=server.read_timeout_s, min_bytes_per_s=server.min_read_bytes_per_s,
        idle_s=server.keep_alive_s)


class HttpServer:
    """A WSGI app served from an event loop and ``workers`` threads. ``start()`` binds (so errors surface at
    once); then ``serve_forever()`` in this thread or ``start_in_thread()``; ``stop()`` closes it."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 5000, *, workers: int = 8,
                 ssl_context: ssl.SSLContext | None = None, limits: ServerConfig | None = None) -> None:
        if workers < 1:
            raise ConfigError(f"server.workers must be at least 1, got {workers}")
        if not 0 <= port <= 65535:
            raise ConfigError(f"server.port must be 0–65535, got {port}")
        services = getattr(app, "extensions", {}).get("visioncast")
        cfg, self.limits = limits_of(services.config if services is not None else None)
        cfg = limits or cfg
        self.app, self.host, self._port = app, host, port
        self.ssl_context = ssl_context
        self.slots = ClientSlots(max(1, cfg.max_client_conns))
        self.max_conns = cfg.max_conns
        self.max_buffer = int(cfg.max_buffer_mb * 1024 * 1024)
        self.refused: Counter[str] = Counter()
        self.buffered = 0
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="visioncast-http")
        self._health_pool = ThreadPoolExecutor(1, thread_name_prefix="visioncast-health")
        self._conns: set[Connection] = set()
        self._opening: dict[asyncio.Task[None], socket.socket] = {}  # connections not yet told apart
        # requests handed to the workers, not yet answered: their work and the loop's future of it
        self._queued: dict[Future[Answer], tuple[Request, asyncio.Future[Answer]]] = {}
        self._closing = False
        self._interrupted = False
        self._listener: asyncio.Server | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # ---- the Gate of every connection (called in the loop thread) -----------------------------------------
    def refuse_client(self, client: str) -> bool:
        return not self.slots.acquire(client)

    def release_client(self, client: str) -> None:
        self.slots.release(client)

    def reserve_buffer(self, n: int) -> bool:
        if self.buffered + n > self.max_buffer:
            return False
        self.buffered += n
        return True

    def release_buffer(self, n: int) -> None:
        self.buffered -= n

    def count(self, what: str) -> None:
        self.refused[what] += 1

    def dispatch(self, conn: Connection, request: Request) -> None:
        health = request.target.partition(b"?")[0] in HEALTH_PATHS
        work = (self._health_pool if health else self._pool).submit(
            call_app, self.app, request, self._environ_base(request))
        future = asyncio.wrap_future(work, loop=asyncio.get_running_loop())
        self._queued[work] = (request, future)
        future.add_done_callback(lambda f: self._answered(conn, request, f))
        work.add_done_callback(self._unqueue)

    def _unqueue(self, work: Future[Answer]) -> None:
        self._queued.pop(work, None)

    def _answered(self, conn: Connection, request: Request, future: asyncio.Future[Answer]) -> None:
        if future.cancelled():  # the server is stopping (_close_all): nothing to write any more
            return
        if future.exception() is not None:
            log.error("%s %s failed before answering", request.method, request.target[:200],
                      exc_info=future.exception())
            conn.fail()
            return
        if self._closing:
            conn.close()
            return
        task = asyncio.ensure_future(write_answer(conn, future.result(), self._pool))
        task.add_done_callback(_log_failure)

    def forget(self, conn: Connection) -> None:
        self._conns.discard(conn)

    def _environ_base(self, request: Request) -> dict[str, Any]:
        return {"SERVER_NAME": self.host, "SERVER_PORT": str(self.port),
                "wsgi.url_scheme": "https" if request.tls else "http",
                HTTPS_KEY: self.ssl_context is not None}

    def _new_connection(self) -> asyncio.Protocol:
        conn = Connection(self)
        if len(self._conns) >= self.max_conns:
            self.count("conns")
            asyncio.get_running_loop().call_soon(conn.close)
        self._conns.add(conn)
        return conn

    # ---- life cycle -----------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked)."""
        return self._port

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> HttpServer:
        """Bind and listen; ConfigError naming the address when it cannot."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if sys.platform != "win32":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._port))
            sock.listen(LISTEN_BACKLOG)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"cannot listen on {self.host}:{self._port}: port {self._port} is taken by "
                                  f"{port_owner(self._port)}: stop it, or choose another port with --port "
                                  "(0 = any free port)") from exc
            raise ConfigError(f"cannot listen on {self.host}:{self._port}: {exc.strerror or exc}") from exc
        sock.setblocking(False)
        self._sock, self._port = sock, int(sock.getsockname()[1])
        return self

    def serve_forever(self) -> None:
        """Serve requests in this thread until :meth:`stop` or :meth:`interrupt` (Ctrl-C propagates)."""
        if self._sock is None:
            self.start()
        sock = self._sock
        assert sock is not None  # made by start()
        # The first-byte peek waits with add_reader, which Windows' default (proactor) loop lacks.
        loop = asyncio.SelectorEventLoop() if self.ssl_context else asyncio.new_event_loop()
        try:
            if self.ssl_context is None:
                self._listener = loop.run_until_complete(loop.create_server(self._new_connection, sock=sock))
            else:
                loop.create_task(self._accept_both(sock))
            self._loop = loop
            if self._interrupted:  # before the loop was known: its stop was not queued
                loop.call_soon(self._stop_loop, loop)
            self._ready.set()
            loop.run_forever()
        finally:
            self._close_all(loop)
            loop.close()
            self._ready.set()

    async def _accept_both(self, sock: socket.socket) -> None:
        """Accept connections for ever; each is opened as https or plain http by its first byte."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                client, _ = await loop.sock_accept(sock)
            except OSError as exc:  # e.g. out of file descriptors: wait, then accept again
                log.warning("accepting a connection failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            if len(self._conns) + len(self._opening) >= self.max_conns:
                self.count("conns")
                client.close()
                continue
            task = loop.create_task(self._open(client))
            self._opening[task] = client
            task.add_done_callback(self._forget_opening)

    def _forget_opening(self, task: asyncio.Task[None]) -> None:
        self._opening.pop(task, None)

    async def _open(self, client: socket.socket) -> None:
        """Serve ``client`` over TLS when its first byte starts a handshake, else as plain HTTP. A client
        silent for the read timeout or failing the handshake (a phone leaving the certificate warning) is
        closed."""
        loop = asyncio.get_running_loop()
        client.setblocking(False)
        grace_s = self.limits.grace_s
        served = False
        try:
            first = await asyncio.wait_for(_peek(loop, client), grace_s)
            if first:
                tls = first == TLS_HANDSHAKE
                await loop.connect_accepted_socket(
                    self._new_connection, client, ssl=self.ssl_context if tls else None,
                    ssl_handshake_timeout=grace_s if tls else None)
                served = True
        except (OSError, asyncio.TimeoutError) as exc:  # ssl.SSLError is an OSError
            log.debug("connection closed before its first request: %s", exc)
        finally:
            if not served:  # also when the server stops meanwhile (cancelled)
                client.close()

    def start_in_thread(self) -> HttpServer:
        self.start()
        self._thread = threading.Thread(target=self.serve_forever, name="visioncast-http-loop", daemon=True)
        self._thread.start()
        self._ready.wait(STOP_TIMEOUT_S)
        return self

    def interrupt(self) -> None:
        """Have :meth:`serve_forever` return soon, as if it ended by itself: safe from any thread and from a
        signal handler on the serving thread, also before the loop runs."""
        self._interrupted = True  # set before reading _loop; serve_forever sets _loop before reading this
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(self._stop_loop, loop)

    def _stop_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._closing:  # a late stop must not end _close_all's own runs of the loop
            loop.stop()

    def stop(self) -> None:
        """Stop listening, close every connection (live answers end), and let running requests finish."""
        self.interrupt()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            self._thread = None
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._health_pool.shutdown(wait=False, cancel_futures=True)
        if self._sock is not None:
            self._sock.close()

    def _close_all(self, loop: asyncio.AbstractEventLoop) -> None:
        """End everything on ``loop`` before it closes: no new connection, every connection closed, the
        requests no worker took freed, every task finished — nothing left for the garbage collector to warn
        about (an unclosed socket, an answer's task never run)."""
        self._closing = True
        if self._listener is not None:
            self._listener.close()
        for client in self._opening.values():  # not yet told apart (https or http): nothing to say
            client.close()
        for conn in list(self._conns):
            conn.close()
            if self.ssl_context is not None and conn.transport is not None:
                conn.transport.abort()  # no TLS goodbye (close_notify) waited for: the loop ends now
            if conn.on_lost is not None:
                conn.on_lost()
        for work, (request, future) in list(self._queued.items()):
            if work.cancel():  # waiting for a worker, never to run: its upload freed (a running app frees it)
                request.body.close()
            future.cancel()  # the worker's end is not sent to this loop once closed
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.wait(tasks, timeout=STOP_TIMEOUT_S))
        for _ in range(3):  # the closed transports' connection_lost callbacks
            loop.run_until_complete(asyncio.sleep(0))

    def __enter__(self) -> HttpServer:
        return self.start_in_thread()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


async def _peek(loop: asyncio.AbstractEventLoop, client: socket.socket) -> bytes:
    """The first byte ``client`` sent, left in the socket for whoever reads it next (b"" when it closed)."""
    readable: asyncio.Future[None] = loop.create_future()
    fd = client.fileno()

    def woken() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(fd, woken)
    try:
        await readable
    finally:
        loop.remove_reader(fd)
    return client.recv(1, socket.MSG_PEEK)


def _log_failure(task: asyncio.Future[None]) -> None:
    exc = None if task.cancelled() else task.exception()
    # Ctrl-C (or SIGTERM, raised as one) landing while an answer is written stops the server: not a failure.
    if exc is not None and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
        log.error("writing an answer failed", exc_info=exc)
