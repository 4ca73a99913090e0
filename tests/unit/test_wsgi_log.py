"""What the HTTP server logs when writing an answer ends badly: a real failure with its traceback, but not the
Ctrl-C (or SIGTERM) that lands in the middle of a write and stops the server anyway — the teacher's window
would show a traceback for pressing Ctrl-C."""

from __future__ import annotations

import asyncio
import logging

import pytest

from visioncast.server.wsgi import _log_failure


def _ended_with(exc: BaseException) -> asyncio.Future[None]:
    loop = asyncio.new_event_loop()
    try:
        future: asyncio.Future[None] = loop.create_future()
        future.set_exception(exc)
        return future
    finally:
        loop.close()


STOPS = [KeyboardInterrupt("SIGINT"), KeyboardInterrupt("SIGTERM"), SystemExit(0)]


@pytest.mark.parametrize("stop", STOPS)
def test_a_stop_landing_in_a_write_is_not_logged(stop: BaseException,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="visioncast.server.wsgi"):
        _log_failure(_ended_with(stop))
    assert caplog.records == []


def test_a_real_failure_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="visioncast.server.wsgi"):
        _log_failure(_ended_with(ValueError("headers too big")))
    assert [r.getMessage() for r in caplog.records] == ["writing an answer failed"]
    assert caplog.records[0].exc_info is not None
