"""Calling the WSGI app for one complete request, and writing its answer from the event loop. I/O: the
client's socket (through :class:`~visioncast.server.http1.Connection`), files the app sends.

:func:`call_app` runs in a worker thread: it builds the PEP 3333 environ, calls the app and takes the answer's
first ``INLINE_BYTES`` (all of it for ordinary answers). :func:`write_answer` runs in the loop: it writes
the head and those bytes, then, by kind of body, a file (``wsgi.file_wrapper``) block by block, a
:class:`~visioncast.sinks.live.LiveBody` as it is woken, or the rest of any other iterable one chunk per
worker call — never holding a worker while the client reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import unquote_to_bytes

from visioncast.server.http1 import Connection, Request
from visioncast.sinks.live import LiveBody

log = logging.getLogger(__name__)
INLINE_BYTES = 1024 * 1024  # an answer up to this size is made whole in the worker
FILE_BLOCK = 256 * 1024
_HEADER_KEYS: dict[bytes, str] = {}


class FileWrapper:
    """``wsgi.file_wrapper``: a file the loop sends block by block (also iterable, for other servers)."""

    def __init__(self, file: IO[bytes], block_size: int = FILE_BLOCK) -> None:
        self.file, self.block_size = file, max(block_size, FILE_BLOCK)

    def __iter__(self) -> FileWrapper:  # its own iterator: whoever wraps it (a range) can close it
        return self

    def __next__(self) -> bytes:
        block = self.file.read(self.block_size)
        if not block:
            raise StopIteration
        return block

    def close(self) -> None:
        self.file.close()


@dataclass
class Answer:
    """What the app answered: status, headers, the bytes made so far and what remains of the body."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    inline: list[bytes] = field(default_factory=list)
    rest: Any = None  # None | LiveBody | FileWrapper | an iterator of the remaining chunks
    closer: Any = None  # the app's iterable, closed when the answer is written (PEP 3333)


def environ_of(request: Request, base: dict[str, Any]) -> dict[str, Any]:
    """The PEP 3333 environ of ``request``."""
    path, _, query = request.target.partition(b"?")
    if path.startswith((b"http://", b"https://")):  # absolute form: keep the path
        path = b"/" + path.split(b"/", 3)[3] if path.count(b"/") >= 3 else b"/"
    env: dict[str, Any] = {
        **base, "REQUEST_METHOD": request.method, "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"), "QUERY_STRING": query.decode("latin-1"),
        "RAW_URI": request.target.decode("latin-1"), "REQUEST_URI": request.target.decode("latin-1"),
        "SERVER_PROTOCOL": f"HTTP/{request.http_version}", "REMOTE_ADDR": request.peer[0],
        "REMOTE_PORT": str(request.peer[1]), "CONTENT_LENGTH": str(request.length),
        "wsgi.version": (1, 0), "wsgi.input": request.body, "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "wsgi.input_terminated": True, "wsgi.file_wrapper": FileWrapper}
    for name, value in request.headers:
        if name in (b"content-length", b"transfer-encoding"):
            continue  # the body is whole: its length is what was received
        key = _HEADER_KEYS.get(name) or _HEADER_KEYS.setdefault(name, _key_of(name))
        text = value.decode("latin-1")
        if key in env:
            text = f"{env[key]}{'; ' if key == 'HTTP_COOKIE' else ','}{text}"
        env[key] = text
    return env


def _key_of(name: bytes) -> str:
    key = name.decode("latin-1").upper().replace("-", "_")
    return key if key == "CONTENT_TYPE" else f"HTTP_{key}"


def call_app(app: Any, request: Request, base: dict[str, Any]) -> Answer:
    """(worker thread) Call ``app`` and take its answer's first bytes."""
    head: list[Any] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None and head:
            raise exc_info[1].with_traceback(exc_info[2])
        head[:] = [status, headers]
        return written.append

    try:
        result = app(environ_of(request, base), start_response)
        if isinstance(result, (LiveBody, FileWrapper)):
            return _answer(head, written, rest=result)
        return _take(head, written, result)
    finally:
        request.body.close()


def _answer(head: list[Any], inline: list[bytes], *, rest: Any = None, closer: Any = None) -> Answer:
    status, headers = head if head else ("500 Internal Server Error", [])
    code, _, reason = status.partition(" ")
    return Answer(int(code), reason, list(headers), inline, rest, closer)


def _take(head: list[Any], written: list[bytes], result: Iterable[bytes]) -> Answer:
    """The whole answer when it is small; else its first ``INLINE_BYTES`` and the iterator of the rest."""
    chunks, size = written, sum(map(len, written))
    iterator = iter(result)
    try:
        for chunk in iterator:
            chunks.append(chunk)
            size += len(chunk)
            if size > INLINE_BYTES:
                return _answer(head, chunks, rest=iterator, closer=result)
    except BaseException:
        _close(result)
        raise
    _close(result)
    return _answer(head, chunks)


def _close(result: Any) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


async def write_answer(conn: Connection, answer: Answer, pool: Executor) -> None:
    """(event loop) Write ``answer`` to ``conn``: the head, the inline bytes, then the rest by its kind."""
    rest = answer.rest
    try:
        conn.send_head(answer.status, answer.reason, answer.headers, answer.inline, end=rest is None)
        if isinstance(rest, LiveBody):
            await _write_live(conn, rest)
        elif isinstance(rest, FileWrapper):
            await _write_file(conn, rest)
        elif rest is not None:
            await _write_iterator(conn, rest, pool)
    except (ConnectionError, asyncio.CancelledError):
        conn.close()
        raise
    finally:
        _close(rest)
        _close(answer.closer)
    if conn.state != "closed":
        conn.finish()


async def _write_live(conn: Connection, body: LiveBody) -> None:
    loop = asyncio.get_running_loop()
    news = asyncio.Event()

    def wake() -> None:  # from the producer's thread
        loop.call_soon_threadsafe(news.set)

    body.subscribe(wake)
    conn.on_lost = body.close
    conn.transport.resume_reading()  # type: ignore[union-attr]  # to see the viewer go away at once
    while conn.state != "closed" and (chunk := body.poll()) is not None:
        if chunk:
            conn.send_data(chunk)
            await conn.drain()
            continue
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(news.wait(), body.heartbeat_s)
        news.clear()


async def _write_file(conn: Connection, wrapper: FileWrapper) -> None:
    while conn.state != "closed" and (block := wrapper.file.read(wrapper.block_size)):
        conn.send_data(block)
        await conn.drain()


async def _write_iterator(conn: Connection, iterator: Iterator[bytes], pool: Executor) -> None:
    loop = asyncio.get_running_loop()
    while conn.state != "closed":
        chunk = await loop.run_in_executor(pool, next, iterator, None)
        if chunk is None:
            return
        conn.send_data(chunk)
        await conn.drain()
