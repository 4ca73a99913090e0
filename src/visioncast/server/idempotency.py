"""One job per press: an ``Idempotency-Key`` request header makes a POST that starts heavy work safe to
repeat. I/O: none (answers kept in memory).

A page sends a fresh key with each press of Start or Upload. The first request with a key runs the view; a
request from the same client with the same key to the same route within ``WINDOW_S`` gets the same answer
(status, body, headers, plus ``Idempotent-Replayed: true``) without running the view again, so a double
click or a retried request starts no second job. A repeat that arrives while the first is still running
waits for its answer (up to ``WAIT_S``, then 409 ``duplicate_in_progress``). Only successful answers are
kept: a refused request may be retried with the same key. Requests without the header are not affected.
Keys are the client's own (kept per caller: the teacher, or a student's address), so a key another student
sent, or guessed, replays nothing of theirs.

    @bp.post("/api/v1/videos")
    @idempotent
    def upload(): ...
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Response, current_app, make_response, request

from visioncast.errors import InputError
from visioncast.server.auth.core import client_id, current_role
from visioncast.server.errors import error_response

HEADER = "Idempotency-Key"
WINDOW_S = 600.0  # a press is repeated within seconds; ten minutes covers a slow upload retried by hand
WAIT_S = 60.0
MAX_KEY_CHARS = 128
EXTENSION = "visioncast.idempotency"
F = TypeVar("F", bound=Callable[..., Any])
IDEMPOTENCY_PARAMETER = {
    "name": HEADER, "in": "header", "required": False,
    "schema": {"type": "string", "maxLength": MAX_KEY_CHARS},
    "description": f"a fresh key per press: a repeat within {WINDOW_S:.0f} s gets the first answer and "
                   "starts nothing (the answer then carries Idempotent-Replayed: true)",
}


@dataclass
class _Entry:
    started: float
    done: threading.Event = field(default_factory=threading.Event)
    answer: tuple[bytes, int, list[tuple[str, str]]] | None = None


class IdempotencyStore:
    """The answers of recent keyed requests, by (route, key); thread-safe; old entries dropped on use."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}

    def claim(self, route: str, key: str) -> tuple[_Entry, bool]:
        """(the entry of this key, True when the caller is the first and must run the view)."""
        now = time.monotonic()
        with self._lock:
            for old in [k for k, e in self._entries.items() if now - e.started > self.window_s]:
                del self._entries[old]
            entry = self._entries.get((route, key))
            if entry is not None:
                return entry, False
            entry = self._entries[(route, key)] = _Entry(now)
            return entry, True

    def finish(self, route: str, key: str, entry: _Entry, response: Response) -> None:
        """Keep a successful answer for repeats; forget the key of a refused one (it may be retried)."""
        if response.status_code < 400:
            headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
            entry.answer = (response.get_data(), response.status_code, headers)
        else:
            with self._lock:
                self._entries.pop((route, key), None)
        entry.done.set()


def _store() -> IdempotencyStore:
    return current_app.extensions.setdefault(EXTENSION, IdempotencyStore())


def _key() -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_CHARS or not key.isprintable():
        raise InputError(f"header {HEADER} must be 1–{MAX_KEY_CHARS} printable characters, got {len(key)}")
    return key


def _caller() -> str:
    """Whose keys these are: the teacher's, or a student's address."""
    return "teacher" if current_role() == "teacher" else f"student {client_id()}"


def _replay(entry: _Entry) -> Any:
    if not entry.done.wait(WAIT_S) or entry.answer is None:
        return error_response(409, "duplicate_in_progress",
                              f"a request with this {HEADER} is still running or was refused; wait for it")
    body, status, headers = entry.answer
    response = Response(body, status=status, headers=headers)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent(view: F) -> F:
    """Answer a repeated ``Idempotency-Key`` with the first answer instead of running ``view`` again."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = _key()
        if key is None:
            return view(*args, **kwargs)
        store, route = _store(), f"{_caller()} {request.endpoint or request.path}"
        entry, first = store.claim(route, key)
        if not first:
            return _replay(entry)
        try:
            response = make_response(view(*args, **kwargs))
        except BaseException:
            store.finish(route, key, entry, Response(status=500))
            raise
        store.finish(route, key, entry, response)
        return response

    return wrapper  # type: ignore[return-value]
