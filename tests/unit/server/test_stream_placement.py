"""Streams on the cluster without a cluster: where a request's stream runs, the pixel-less deliveries that
cross from a node, the bounded outbox, and the proxy's bookkeeping of what one pull brings (the server's bus,
the MJPEG view, events, counters). Ray itself is exercised in tests/integration/test_ray_streams.py."""

from __future__ import annotations

import pickle
import time
from typing import Any

import cv2
import numpy as np
import pytest

from visioncast.config import PipelineConfig
from visioncast.core.types import Detections, Frame, Result
from visioncast.errors import InputError
from visioncast.scale.pipeline_actor import Outbox, Shipped
from visioncast.scale.stream import JPEG_IDLE_S, RayStream
from visioncast.server.streams.registry import stream_placement
from visioncast.sinks.bus import Delivery, Dispatcher
from visioncast.sinks.mjpeg import MjpegBroadcaster


@pytest.mark.parametrize(("body", "cluster", "where"), [
    ({"source": "clip.mp4"}, False, "local"),
    ({"source": "clip.mp4"}, True, "ray"),
    ({"source": "rtsp://cam/1"}, True, "ray"),
    ({"source": "CAM"}, True, "local"),
    ({"source": "0"}, True, "local"),
    ({"source": "clip.mp4", "placement": "local"}, True, "local"),
    ({"source": "clip.mp4", "placement": "ray"}, True, "ray"),
])
def test_streams_run_on_the_cluster_when_there_is_one_unless_asked_or_a_camera(body, cluster, where):
    assert stream_placement(body, cluster) == where


@pytest.mark.parametrize(("body", "cluster", "words"), [
    ({"source": "clip.mp4", "placement": "ray"}, False, "this server has no Ray cluster"),
    ({"source": "CAM", "placement": "ray"}, True, "is a camera of this server"),
    ({"source": "clip.mp4", "placement": "cloud"}, True,
     "field 'placement' must be local or ray, got 'cloud'"),
])
def test_a_placement_that_cannot_be_had_is_a_clear_input_error(body, cluster, words):
    with pytest.raises(InputError, match=words):
        stream_placement(body, cluster)


def make_result(width: int = 64, height: int = 48) -> Result:
    dets = Detections(np.array([[1, 2, 30, 40]], np.float32), np.array([0], np.int32),
                      np.array([0.9], np.float32), ["person"])
    return Result("detect", "yolox-nano", width, height, detections=dets)


def test_a_delivery_crosses_without_its_pixels_and_keeps_its_frame_number_and_time():
    frame = Frame(np.full((480, 640, 3), 200, np.uint8), 7, 0.7, "clip")
    shipped = Shipped.from_delivery(Delivery("clip", make_result(640, 480), frame, frame.image, {"frame": 7},
                                             [{"type": "state"}]))
    assert len(pickle.dumps(shipped)) < 10_000  # what crosses the cluster: not the 921,600 bytes of pixels
    back = shipped.to_delivery("hall")
    assert back.source == "hall"
    assert (back.frame.index, back.frame.timestamp_s, back.frame.source) == (7, 0.7, "hall")
    assert (back.frame.width, back.frame.height) == (640, 480)
    assert back.frame.image.strides == (0, 0, 1)  # every pixel is the same black one: no memory
    assert back.annotated is None
    assert back.stats == {"frame": 7}
    assert back.events == [{"type": "state"}]
    end = Shipped.from_delivery(Delivery("clip", events=[{"type": "track_left"}])).to_delivery("hall")
    assert end.result is None
    assert end.frame is None
    assert end.events == [{"type": "track_left"}]


def test_the_outbox_keeps_the_newest_and_counts_what_it_dropped():
    box = Outbox(size=3)
    for i in range(5):
        box.deliver(Delivery("s", make_result(), Frame(np.zeros((4, 4, 3), np.uint8), i)))
    assert [s.index for s in box.take()] == [2, 3, 4]
    assert box.lost == 2
    assert box.take() == []


class Recorder:
    """A sink of the server's bus that keeps what it gets."""

    needs_image = False

    def __init__(self) -> None:
        self.got: list[Delivery] = []

    def deliver(self, delivery: Delivery) -> None:
        self.got.append(delivery)

    def close(self) -> None:
        pass


def answer(indexes: list[int], *, jpeg: bytes | None = None, seq: int = 0, lost: int = 0) -> dict[str, Any]:
    shipped = [Shipped(make_result(), i, i / 10, {"frame": i}, [{"type": "state", "n": i}]) for i in indexes]
    return {"deliveries": shipped, "lost": lost, "jpeg": jpeg, "jpeg_seq": seq,
            "stats": {"frame": indexes[-1] if indexes else 0}, "counters": {"frames_out": len(indexes)},
            "sink_status": {}, "done": False, "error": None}


def make_proxy() -> tuple[RayStream, Recorder, MjpegBroadcaster]:
    recorder, broadcaster = Recorder(), MjpegBroadcaster()
    proxy = RayStream(lambda name: None, "clip.mp4", PipelineConfig(), label="s-1", name="hall",
                      broadcaster=broadcaster, bus=Dispatcher(shared=[recorder]))
    return proxy, recorder, broadcaster


def test_one_pull_feeds_the_servers_bus_view_events_and_counters():
    proxy, recorder, broadcaster = make_proxy()
    _ok, jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8))
    proxy.feed(answer([0, 1, 2], jpeg=jpeg.tobytes(), seq=3, lost=1))
    assert [(d.source, d.frame.index) for d in recorder.got] == [("hall", 0), ("hall", 1), ("hall", 2)]
    assert broadcaster.latest_jpeg() == (jpeg.tobytes(), 1)
    assert [e["n"] for e in proxy.recent_events()] == [0, 1, 2]
    assert proxy.stats == {"frame": 2}
    assert proxy.counters() == {"frames_out": 3, "lost": 1, "restarts": 0}
    proxy.feed(answer([3]))  # no newer JPEG: the view keeps the one it has
    assert broadcaster.latest_jpeg()[1] == 1
    assert proxy.placement() == {"where": "ray", "node": "", "actor": "", "restarts": 0, "max_restarts": 3,
                                 "last_loss": None}


def test_the_jpeg_is_fetched_on_every_pull_while_watched_else_once_a_second(monkeypatch):
    proxy, _, broadcaster = make_proxy()
    assert proxy._jpeg_wanted() == 0  # nothing yet: the first one for frame.jpg
    proxy.feed(answer([0], jpeg=b"\xff\xd8 jpeg", seq=5))
    assert proxy._jpeg_wanted() is None  # nobody watches and it is fresh
    broadcaster.viewers = 1
    assert proxy._jpeg_wanted() == 5  # a viewer: anything newer than 5
    broadcaster.viewers = 0
    now = time.monotonic()
    monkeypatch.setattr("visioncast.scale.stream.time.monotonic", lambda: now + JPEG_IDLE_S + 0.01)
    assert proxy._jpeg_wanted() == 5
