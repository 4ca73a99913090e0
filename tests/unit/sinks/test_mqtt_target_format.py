"""Where the board should look: target/x, /y, /size from the biggest face, else the biggest person,
and one `none` when no one is there. Pure: mqtt_format only."""

from __future__ import annotations

import numpy as np
import pytest

from visioncast.config import MqttConfig
from visioncast.core.types import Classification, Detections, Result
from visioncast.sinks import mqtt_format as fmt


def result(task: str, *boxes: tuple[str, tuple[float, float, float, float]], w: int = 200,
           h: int = 100) -> Result:
    dets = Detections(np.array([b for _, b in boxes], np.float32).reshape(-1, 4), np.zeros(len(boxes)),
                      np.full(len(boxes), 0.9), tuple(label for label, _ in boxes))
    return Result(task, "m", w, h, detections=dets)  # type: ignore[arg-type]


@pytest.mark.parametrize(("res", "expected"), [
    (result("face", ("face", (10, 10, 30, 40)), ("face", (100, 20, 160, 80))), (65, 50, 30)),
    (result("detect", ("person", (0, 0, 40, 100)), ("face", (150, 0, 160, 10)), ("person", (0, 0, 20, 20))),
     (78, 5, 5)),  # a face wins over a bigger person
    (result("pose", ("person", (0, 0, 40, 100)), ("person", (120, 0, 200, 100))), (80, 50, 40)),
    (result("detect", ("bus", (0, 0, 200, 100))), None),
    (result("detect", ("person", (190, 90, 200, 100))), (98, 95, 5)),
])
def test_pick_target(res, expected):
    assert fmt.pick_target(res) == expected


def test_messages_x_y_size_then_one_none():
    cfg = MqttConfig(prefix="vc")
    someone = result("face", ("face", (100, 20, 160, 80)))
    no_one = result("face")
    messages, had = fmt.target_messages(cfg, someone, "fan", None)
    assert [(m.topic, m.payload) for m in messages] == [
        ("vc/fan/target/x", b"65"), ("vc/fan/target/y", b"50"), ("vc/fan/target/size", b"30")]
    assert had is True
    messages, had = fmt.target_messages(cfg, no_one, "fan", had)
    assert [(m.topic, m.payload) for m in messages] == [("vc/fan/target", b"none")]
    assert fmt.target_messages(cfg, no_one, "fan", had) == ([], False)  # nothing more while no one is there
    first_empty, _ = fmt.target_messages(cfg, no_one, "fan", None)
    assert [m.payload for m in first_empty] == [b"none"]  # the board learns it at the start too


def test_classification_publishes_no_target_and_keeps_the_state():
    cls = Result("classify", "m", 10, 10, classification=Classification([0], [0.9], ["cat"]))
    assert fmt.target_messages(MqttConfig(), cls, "cam", True) == ([], True)


def test_siot_preset_topics():
    messages, _ = fmt.target_messages(MqttConfig(preset="siot"), result("pose", ("person", (0, 0, 20, 10))),
                                      "cam", None)
    assert [m.topic for m in messages] == ["siot/cam/target/x", "siot/cam/target/y", "siot/cam/target/size"]
