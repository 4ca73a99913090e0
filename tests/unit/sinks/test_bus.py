"""The delivery bus: every sink gets every delivery, a raising sink is isolated, counted per sink and
source, logged once per kind; shared sinks are never closed by the dispatcher."""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pytest

from visioncast.core.types import Classification, Frame, Result
from visioncast.errors import SinkError
from visioncast.sinks import Delivery, Dispatcher, Sink
from visioncast.sinks.jsonl import JsonlSink
from visioncast.sinks.mjpeg import MjpegBroadcaster
from visioncast.sinks.video import VideoFileSink

RESULT = Result("classify", "m", 4, 2, classification=Classification([3], [0.9], ["cat"]))
FRAME = Frame(np.zeros((2, 4, 3), np.uint8), 7, 0.7, "cam")


class Recorder:
    """A Sink that keeps what it gets (and whether it was closed)."""

    needs_image = False

    def __init__(self) -> None:
        self.got: list[Delivery] = []
        self.closed = False

    def deliver(self, delivery: Delivery) -> None:
        self.got.append(delivery)

    def close(self) -> None:
        self.closed = True


class Failing(Recorder):
    """A Sink whose medium is broken: raises ``error`` on every call."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def deliver(self, delivery: Delivery) -> None:
        raise self.error

    def close(self) -> None:
        raise self.error


def closed_jsonl() -> JsonlSink:
    stream = io.StringIO()
    stream.close()
    return JsonlSink("closed.jsonl", stream=stream)


@pytest.mark.parametrize("sink", [Recorder(), JsonlSink("-", stream=io.StringIO()), MjpegBroadcaster(),
                                  VideoFileSink("out.avi", fps=10)], ids=type)
def test_every_sink_satisfies_the_protocol(sink: Sink) -> None:
    assert isinstance(sink, Sink)


def test_a_raising_sink_never_stops_the_others(caplog: pytest.LogCaptureFixture) -> None:
    before, after = Recorder(), Recorder()
    bus = Dispatcher([before, closed_jsonl(), Failing(SinkError("disk full")), after])
    with caplog.at_level(logging.DEBUG, logger="visioncast.sinks.bus"):
        for source in ("cam", "cam", "door"):
            bus.deliver(Delivery(source, RESULT, FRAME))
    assert len(before.got) == len(after.got) == 3
    assert bus.failed == 6
    assert bus.status() == {
        "Failing": {"failed": 3, "last_error": "SinkError: disk full", "by_source": {"cam": 2, "door": 1}},
        "JsonlSink": {"failed": 3, "last_error": "ValueError: I/O operation on closed file",
                      "by_source": {"cam": 2, "door": 1}},
    }
    assert bus.status("door")["JsonlSink"]["failed"] == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [(r.getMessage().split(" (")[0], r.exc_info is not None) for r in errors] == [
        ("sink JsonlSink failed to deliver", True),  # a bug-like error: logged with its traceback, once
        ("sink Failing failed to deliver", False),  # a visioncast error: one line, once
    ]


def test_close_closes_own_sinks_only_and_isolates_failures() -> None:
    own, shared = Recorder(), Recorder()
    bus = Dispatcher([Failing(OSError("gone")), own], shared=[shared])
    bus.deliver(Delivery("cam", RESULT, FRAME))
    bus.close()
    assert own.closed
    assert not shared.closed
    assert len(shared.got) == 1
    assert bus.status()["Failing"]["failed"] == 2  # the delivery and the close


def test_needs_image_when_any_sink_draws() -> None:
    assert not Dispatcher([Recorder()]).needs_image
    assert Dispatcher([Recorder()], shared=[MjpegBroadcaster()]).needs_image


def test_jsonl_lines_of_a_frame_and_of_the_end_events() -> None:
    out = io.StringIO()
    sink = JsonlSink("-", stream=out)
    event = {"type": "track_left", "label": "person"}
    sink.deliver(Delivery("cam", RESULT, FRAME, stats={"frame": 7}, events=[]))
    sink.deliver(Delivery("cam", events=[event]))
    sink.deliver(Delivery("cam"))  # end of a stream without events: no line
    first, last = (json.loads(line) for line in out.getvalue().splitlines())
    result = first["result"]
    assert (result["source"], result["frame"], result["timestamp"]) == ("cam", 7, 0.7)
    assert first["stats"] == {"frame": 7}
    assert last == {"events": [event]}
