"""One HTTP/1.1 connection, read without a thread. I/O: a socket, through asyncio.

The request's head and body arrive in the server's event loop, parsed by h11, within the limits of
:class:`Limits`; only a complete request is handed to a worker (:meth:`Gate.dispatch`), so a phone uploading
over a weak Wi-Fi costs memory within a budget, not a worker. Each refusal is answered with its own status
and the connection is closed:

* a request line over ``max_request_line`` bytes → 414; a head over ``max_head`` bytes or with more than
  ``max_headers`` fields → 431 (h11 bounds its buffer to the same size);
* a body over ``max_body`` bytes → 413 (at once when Content-Length says so, else when it gets there);
* a request that is not in within ``grace_s`` plus a second per ``min_bytes_per_s`` received → 408;
* an address already served ``max_client_requests`` requests at once, or bodies in memory over the
  server's budget → 503 (``Retry-After: 1``).

Bodies over ``spool_bytes`` go to a temporary file as they arrive. After a refusal the rest of what the
client sends is read and dropped for a moment, so it gets the answer rather than a reset.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Protocol

import h11

log = logging.getLogger(__name__)
REASONS = {408: "Request Timeout", 413: "Content Too Large", 414: "URI Too Long",
           431: "Request Header Fields Too Large", 400: "Bad Request", 503: "Service Unavailable",
           500: "Internal Server Error"}
DRAIN_S = 2.0  # how long a refused client's remaining bytes are read and dropped


@dataclass(frozen=True)
class Limits:
    """What one request may cost (bytes, seconds); see the ``server`` section of the config."""

    max_request_line: int = 8192
    max_head: int = 32768
    max_headers: int = 100
    max_body: int = 20 * 1024 * 1024
    grace_s: float = 10.0
    min_bytes_per_s: float = 4096.0
    idle_s: float = 10.0
    spool_bytes: int = 1024 * 1024


@dataclass
class Request:
    """A complete request as the worker gets it."""

    method: str
    target: bytes
    http_version: str
    headers: list[tuple[bytes, bytes]]
    body: IO[bytes]
    length: int
    peer: tuple[str, int]
    tls: bool


class Gate(Protocol):
    """What a connection asks of its server: admission, budgets and the hand-off to a worker."""

    limits: Limits

    def refuse_client(self, client: str) -> bool: ...  # True: the address has its share in flight
    def release_client(self, client: str) -> None: ...
    def reserve_buffer(self, n: int) -> bool: ...
    def release_buffer(self, n: int) -> None: ...
    def count(self, what: str) -> None: ...
    def dispatch(self, conn: Connection, request: Request) -> None: ...
    def forget(self, conn: Connection) -> None: ...


def error_bytes(status: int, code: str, message: str, *, retry: bool = False) -> bytes:
    """A complete JSON error answer that closes the connection (written without h11)."""
    body = json.dumps({"error": code, "message": message}).encode()
    extra = b"Retry-After: 1\r\n" if retry else b""
    return (b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s"
            b"Connection: close\r\n\r\n%s" % (status, REASONS[status].encode(), len(body), extra, body))


class Connection(asyncio.Protocol):
    """One client connection: reads requests (states idle → reading → busy), writes answers."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.limits = gate.limits
        self.loop = asyncio.get_running_loop()
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_head)
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("-", 0)
        self.tls = False
        self.state = "idle"  # idle | reading | busy | draining | closed
        self._timer: asyncio.TimerHandle | None = None
        self._started = 0.0
        self._received = 0
        self._line = 0  # bytes of the request line seen so far (-1: complete)
        self._body: IO[bytes] | None = None
        self._reserved = 0
        self._request: h11.Request | None = None
        self._client_held = False
        self._eof = False
        self._ended = False  # the answer's end was written with its head
        self._writable = asyncio.Event()
        self._writable.set()
        self.on_lost: Callable[[], None] | None = None  # what a live response does when the client goes

    # ---- asyncio callbacks ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername") or ("-", 0)
        self.peer = (str(peer[0]), int(peer[1]))
        self.tls = transport.get_extra_info("sslcontext") is not None
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a small answer goes out at once
        self._idle()

    def data_received(self, data: bytes) -> None:
        if self.state in ("draining", "closed"):
            return
        if self.state == "busy":  # a live response: only the client's going away matters
            return
        if self.state == "idle":
            self._begin()
        self._received += len(data)
        if self._line >= 0 and self._request is None and not self._line_fits(data):
            return
        self.h11.receive_data(data)
        self._process()

    def eof_received(self) -> bool | None:
        if self.state == "busy" and self.on_lost is None:
            self._eof = True
            return True  # half-closed after the request: answer it, then close
        self.close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = "closed"
        self._cancel_timer()
        self._end_request()
        self._writable.set()
        if self.on_lost is not None:
            self.on_lost()
        self.gate.forget(self)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # ---- reading --------------------------------------------------------------------------------------
    def _begin(self) -> None:
        self.state, self._started, self._received, self._line = "reading", time.monotonic(), 0, 0
        self._arm(self.limits.grace_s)

    def _line_fits(self, data: bytes) -> bool:
        """Counts the request line as it arrives: 414 as soon as it is too long."""
        end = data.find(b"\n")
        self._line += len(data) if end < 0 else end
        if self._line > self.limits.max_request_line:
            self.refuse(414, "uri_too_long", f"the request line is over {self.limits.max_request_line} bytes "
                        "(server.max_request_line_kb)")
            return False
        if end >= 0:
            self._line = -1
        return True

    def _process(self) -> None:
        """Take the events h11 has; dispatch a complete request."""
        while self.state == "reading":
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._protocol_error(exc)
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._head(event)
            elif isinstance(event, h11.Data):
                self._data(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._complete()
            elif isinstance(event, h11.ConnectionClosed):
                self.close()

    def _protocol_error(self, exc: h11.RemoteProtocolError) -> None:
        if exc.error_status_hint == 431:
            self.refuse(431, "header_too_large", f"the request head is over {self.limits.max_head} bytes "
                        "(server.max_header_kb)")
        else:
            self.refuse(400, "bad_request", f"malformed HTTP request: {exc}")

    def _head(self, event: h11.Request) -> None:
        limits = self.limits
        if len(event.headers) > limits.max_headers:
            self.refuse(431, "too_many_headers", f"the request has {len(event.headers)} header fields; at "
                        f"most {limits.max_headers} (server.max_headers)")
            return
        if len(event.target) > limits.max_request_line:
            self.refuse(414, "uri_too_long", f"the request target is over {limits.max_request_line} bytes "
                        "(server.max_request_line_kb)")
            return
        if b"%2f" in event.target.partition(b"?")[0].lower():  # a path with two readings (as cheroot)
            self.refuse(400, "bad_request", "an encoded slash (%2F) in the path is not accepted")
            return
        if self.gate.refuse_client(self.peer[0]):
            self.refuse(503, "server_busy", "too many requests from your address at once; retry in a "
                        "moment", retry=True)
            return
        self._client_held = True
        declared = _content_length(event.headers)
        if declared is not None and declared > limits.max_body:
            self.refuse(413, "too_large", f"request body of {declared} bytes is over the server's limit of "
                        f"{limits.max_body} bytes")
            return
        chunked = any(name == b"transfer-encoding" for name, _ in event.headers)
        want = min(declared or 0, limits.spool_bytes) if not chunked else limits.spool_bytes
        if not self.gate.reserve_buffer(want):
            self.refuse(503, "server_busy", "the server is receiving too many uploads at once; retry in "
                        "a moment", retry=True)
            return
        self._reserved = want
        self._request = event
        self._body = tempfile.SpooledTemporaryFile(max_size=limits.spool_bytes)  # noqa: SIM115 — closed by _end_request or the worker
        if self.h11.client_is_waiting_for_100_continue:
            self._write(self.h11.send(h11.InformationalResponse(status_code=100, headers=[])))

    def _data(self, data: bytes) -> None:
        assert self._body is not None  # h11 gives Data only after the Request
        if self._body.tell() + len(data) > self.limits.max_body:
            self.refuse(413, "too_large", f"request body is over the server's limit of "
                        f"{self.limits.max_body} bytes")
            return
        self._body.write(data)

    def _complete(self) -> None:
        assert self._request is not None
        assert self._body is not None
        event, body = self._request, self._body
        length = body.tell()
        body.seek(0)
        self._cancel_timer()
        self.state = "busy"
        self.transport.pause_reading()  # type: ignore[union-attr]
        request = Request(event.method.decode("ascii"), event.target, event.http_version.decode("ascii"),
                          list(event.headers), body, length, self.peer, self.tls)
        self._body = None  # the request owns it now (the worker closes it)
        self.gate.dispatch(self, request)

    # ---- timers ---------------------------------------------------------------------------------------
    def _arm(self, delay_s: float) -> None:
        self._cancel_timer()
        self._timer = self.loop.call_later(max(0.05, delay_s), self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _idle(self) -> None:
        self.state = "idle"
        self._arm(self.limits.idle_s)

    def _on_timer(self) -> None:
        self._timer = None
        if self.state in ("idle", "draining"):
            self.close()
        elif self.state == "reading":
            allowed = self.limits.grace_s + self._received / self.limits.min_bytes_per_s
            left = self._started + allowed - time.monotonic()
            if left > 0:
                self._arm(left)
            else:
                self.gate.count("slow")
                self.refuse(408, "too_slow", "the request did not arrive in time (server.read_timeout_s, "
                            "server.min_read_bytes_per_s)")

    # ---- writing --------------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self) -> None:
        """Wait until the client has taken what was written (flow control)."""
        await self._writable.wait()

    def refuse(self, status: int, code: str, message: str, *, retry: bool = False) -> None:
        """Answer ``status`` and close; what the client still sends is dropped for a moment."""
        self.gate.count(str(status))
        self._end_request()
        self._write(error_bytes(status, code, message, retry=retry))
        self.state = "draining"
        if self.transport is not None and self.transport.can_write_eof():
            self.transport.write_eof()
        self._arm(DRAIN_S)

    def send_head(self, status: int, reason: str, headers: list[tuple[str, str]],
                  body: list[bytes] | None = None, *, end: bool = False) -> None:
        """The answer's head and the first ``body`` chunks in one write (``end``: and its end)."""
        out = [self.h11.send(h11.Response(status_code=status, reason=reason.encode("latin-1"),
                                          headers=[(k.encode("latin-1"), v.encode("latin-1"))
                                                   for k, v in headers]))]
        out += [self.h11.send(h11.Data(data=chunk)) for chunk in body or () if chunk]
        if end:
            out.append(self.h11.send(h11.EndOfMessage()))
            self._ended = True
        self._write(b"".join(out))

    def send_data(self, data: bytes) -> None:
        if data:
            self._write(self.h11.send(h11.Data(data=data)))

    def finish(self) -> None:
        """The answer is complete: the next request, or close."""
        if self.state == "closed":
            return
        if not self._ended:
            self._write(self.h11.send(h11.EndOfMessage()))
        self._ended = False
        self._end_request()
        self.on_lost = None
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE and not self._eof:
            self.h11.start_next_cycle()
            self._idle()
            self.transport.resume_reading()  # type: ignore[union-attr]
            if self.h11.trailing_data[0]:  # a pipelined request already read
                self._begin()
                self._process()
        else:
            self.close()

    def fail(self, status: int = 500) -> None:
        """The app failed before answering: a bare error answer, then close."""
        self._end_request()
        if self.h11.our_state is h11.SEND_RESPONSE:
            self._write(error_bytes(status, "error", "the server failed to answer this request"))
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _end_request(self) -> None:
        if self._client_held:
            self._client_held = False
            self.gate.release_client(self.peer[0])
        if self._reserved:
            self.gate.release_buffer(self._reserved)
            self._reserved = 0
        self._request = None
        if self._body is not None:
            self._body.close()
            self._body = None


def _content_length(headers: Any) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value)  # h11 has checked it is a number
    return None
