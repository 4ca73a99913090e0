"""boardcode.push: the topic a board listens to (preset, prefix, ``mqtt.source``), the table keyed by what the
push sends (``mqtt.label_map``), and the broker when the push goes to another one than this server's."""

from __future__ import annotations

from typing import Any

import pytest

from visioncast import config
from visioncast.boardcode import COLOURS, Action, PushBroker, label_topic, push_broker, pushed_actions
from visioncast.errors import InputError

YELLOW = COLOURS["yellow"]


def cfg_with(**overrides: Any) -> config.Config:
    return config.load(env={}, overrides=overrides)


@pytest.mark.parametrize(("overrides", "source", "topic"), [
    ({}, "teach", "visioncast/teach/label"),
    ({}, "webcam", "visioncast/webcam/label"),
    ({"broker.preset": "siot"}, "teach", "siot/teach"),
    ({"mqtt.preset": "siot"}, "教室", "siot/教室"),
    ({"mqtt.prefix": "班级"}, "teach", "班级/teach/label"),
    ({"mqtt.source": "一班"}, "teach", "visioncast/一班/label"),  # one name for every source
])
def test_label_topic_follows_the_push(overrides: dict[str, str], source: str, topic: str) -> None:
    assert label_topic(cfg_with(**overrides), source) == topic


@pytest.mark.parametrize("source", ["", "a/b", "a b", "+", "x" * 65])
def test_a_bad_source_is_named(source: str) -> None:
    with pytest.raises(InputError, match="source must be 1–64 characters"):
        label_topic(cfg_with(), source)


def test_a_preset_without_labels_asks_for_the_topic() -> None:
    with pytest.raises(InputError, match="publishes no label topic: give the topic"):
        label_topic(cfg_with(**{"mqtt.preset": "people-counter"}))


def test_the_table_holds_the_messages_of_the_label_map() -> None:
    cfg = cfg_with(**{"mqtt.label_map": ["开心=happy", "愤怒=angry"]})
    assert pushed_actions(cfg, {"开心": Action(YELLOW), "举手": Action(servo_deg=90)}) == {
        "happy": Action(YELLOW), "举手": Action(servo_deg=90)}


@pytest.mark.parametrize("payload", ["json", "template"])
def test_a_push_that_sends_json_cannot_drive_a_board(payload: str) -> None:
    overrides = {"mqtt.payload": payload, "mqtt.template": "{label}" if payload == "template" else ""}
    with pytest.raises(InputError, match=f"the push sends labels as '{payload}'"):
        pushed_actions(cfg_with(**overrides), {"a": Action()})


@pytest.mark.parametrize(("overrides", "broker"), [
    ({}, None),  # host "": the embedded broker
    ({"mqtt.host": "127.0.0.1", "mqtt.port": 1883}, None),  # loopback on the embedded broker's port
    ({"mqtt.host": "127.0.0.1", "mqtt.port": 1884}, PushBroker("127.0.0.1", 1884)),
    ({"mqtt.host": "broker.school.lan", "mqtt.username": "server", "mqtt.password": "secret"},
     PushBroker("broker.school.lan", 1883)),  # the server's own login is not given to boards
    ({"mqtt.url": "mqtt://srv:pw@10.0.0.5:1999"}, PushBroker("10.0.0.5", 1999)),
    ({"mqtt.host": "10.0.0.9", "mqtt.preset": "siot"}, PushBroker("10.0.0.9", 1883, "siot", "dfrobot")),
    ({"mqtt.host": "10.0.0.9", "broker.preset": "siot"}, PushBroker("10.0.0.9", 1883, "siot", "dfrobot")),
    ({"mqtt.host": "10.0.0.9", "mqtt.preset": "siot", "mqtt.username": "mine"}, PushBroker("10.0.0.9", 1883)),
])
def test_the_push_broker_when_it_is_not_this_servers(overrides: dict[str, Any],
                                                      broker: PushBroker | None) -> None:
    assert push_broker(cfg_with(**overrides), embedded_port=1883) == broker
