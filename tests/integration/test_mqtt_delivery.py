"""What the MQTT sink promises a board, checked with real subscribers on a real Mosquitto: a label that
disappears gets one 0, pause silences everything of its source, set_threshold changes only its source and
echoes the state, and at QoS 1 "sent" means acknowledged (a frozen broker's messages are reported lost)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.mqtt_peers import Subscriber, free_port, mosquitto

from visioncast.config import MqttConfig
from visioncast.core.types import Detections, Result
from visioncast.sinks.mqtt import MqttSink

WAIT_S = 10.0


def detected(*labels: str, score: float = 0.9) -> Result:
    n = len(labels)
    boxes = np.tile(np.array([[1, 1, 5, 5]], np.float32), (n, 1))
    found = Detections(boxes, np.zeros(n), np.full(n, score), labels)
    return Result("detect", "test", 32, 32, detections=found)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[int, Any]]:
    port = free_port()
    with mosquitto(tmp_path, port) as proc:
        yield port, proc


def open_sink(port: int, **changes: Any) -> MqttSink:
    sink = MqttSink(MqttConfig(host="127.0.0.1", port=port, reconnect_max_s=1, **changes)).start()
    assert sink.wait_connected(WAIT_S), sink.error
    return sink


def test_a_label_that_disappears_gets_exactly_one_zero(broker: tuple[int, Any]) -> None:
    port, _ = broker
    sub = Subscriber(port, "visioncast/cam/count/#")
    sink = open_sink(port)
    try:
        for labels in [("person", "bus"), ("person",), ("person",), ("person",), ("bus",)]:
            sink.publish(detected(*labels), source="cam")
        sub.wait_for(lambda msgs: len(msgs) >= 8)
        assert sub.payloads("visioncast/cam/count/bus") == [b"1", b"0", b"1"]
        assert sub.payloads("visioncast/cam/count/person") == [b"1", b"1", b"1", b"1", b"0"]
    finally:
        sink.close()
        sub.close()


def test_pause_silences_results_stats_and_events_of_its_source_only(broker: tuple[int, Any]) -> None:
    port, _ = broker
    sub = Subscriber(port, "visioncast/#")
    sink = open_sink(port)
    try:
        sink._run("cam", {"cmd": "pause"})
        sink.publish(detected("person"), source="cam")
        sink.publish_stats({"counts": {"person": 1}}, source="cam")
        sink.publish_event({"type": "track_left", "label": "person"}, source="cam")
        sink.publish(detected("bus"), source="door")
        sub.wait_for(lambda msgs: any(t == "visioncast/door/label" for t, _ in msgs))
        assert sink.flush(WAIT_S)
        cam = [t for t, _ in sub.messages if t.startswith("visioncast/cam/") and not t.endswith("/state")]
        assert cam == []
        assert sink.status()["paused"] == 3
        state = json.loads(sub.payloads("visioncast/cam/state")[-1])
        assert state == {"paused": True, "threshold": None}
    finally:
        sink.close()
        sub.close()


def test_set_threshold_changes_only_its_own_source(broker: tuple[int, Any]) -> None:
    port, _ = broker
    sub = Subscriber(port, "visioncast/+/label")
    sink = open_sink(port)
    try:
        assert sink._run("door", {"cmd": "set_threshold", "conf": 0.8}) == {
            "paused": False, "threshold": 0.8}
        sink.publish(detected("person", score=0.5), source="door")
        sink.publish(detected("person", score=0.5), source="cam")
        sub.wait_for(lambda msgs: len(msgs) >= 2)
        assert sub.payloads("visioncast/door/label") == [b"none"]  # 0.5 < 0.8: nothing on door
        assert sub.payloads("visioncast/cam/label") == [b"person"]  # cam keeps the model's threshold
    finally:
        sink.close()
        sub.close()


def test_qos1_sent_means_acknowledged_and_a_frozen_broker_loses_what_it_never_acked(
        broker: tuple[int, Any]) -> None:
    port, proc = broker
    sink = open_sink(port, qos=1, flush_timeout_s=1.0)
    try:
        sink.publish(detected("person"), source="cam")
        assert sink.flush()
        before = sink.status()
        assert before["sent"] == before["handed"] > 0
        os.kill(proc.pid, signal.SIGSTOP)  # the broker still holds the connection but answers nothing
        try:
            for _ in range(20):
                sink.publish(detected("person"), source="cam")
            assert not sink.flush()
            sink.close()
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        after = sink.status()
        assert after["lost"] > 0
        assert after["sent"] + after["lost"] == after["handed"]
        assert after["sent"] == before["sent"]  # nothing was acknowledged while frozen
    finally:
        sink.close()


def test_home_assistant_discovery_announces_each_sensor_once(broker: tuple[int, Any]) -> None:
    port, _ = broker
    sub = Subscriber(port, "homeassistant/#")
    sink = open_sink(port, ha_discovery=True)
    try:
        sink.publish(detected("person", "bus"), source="教室")
        sink.publish(detected("person", "bus"), source="教室")
        sink.publish(detected("dog"), source="教室")
        sub.wait_for(lambda msgs: len(msgs) >= 4)
        assert sink.flush(WAIT_S)
        configs = {json.loads(p)["state_topic"]: json.loads(p) for _, p in sub.messages}
        assert sorted(configs) == ["visioncast/教室/count/bus", "visioncast/教室/count/dog",
                                   "visioncast/教室/count/person", "visioncast/教室/label"]
        assert len(sub.messages) == 4  # each once, however many results
        person = configs["visioncast/教室/count/person"]
        assert person["availability_topic"] == "visioncast/server/status"
        assert person["unit_of_measurement"] == "objects"
        assert all(t.startswith("homeassistant/sensor/visioncast_server/") and t.isascii()
                   for t, _ in sub.messages)
    finally:
        sink.close()
        sub.close()


def test_a_run_that_ends_does_not_mark_the_server_offline(broker: tuple[int, Any]) -> None:
    port, _ = broker
    server = open_sink(port)  # instance "server", as serve's sink
    run = open_sink(port, instance="run-clip")
    try:
        run.publish(detected("person"), source="clip")
        assert run.flush()
        run.close()
        sub = Subscriber(port, "visioncast/+/status")  # a board arriving later reads the retained statuses
        try:
            sub.wait_for(lambda msgs: len(msgs) >= 2)
            assert dict(sub.messages) == {"visioncast/server/status": b"online",
                                          "visioncast/run-clip/status": b"offline"}
        finally:
            sub.close()
    finally:
        run.close()
        server.close()
