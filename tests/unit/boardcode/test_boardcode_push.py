"""boardcode.push: the topic a board listens to (preset, prefix, ``mqtt.source``), the table keyed by what the
push sends (``mqtt.label_map``); sinks.push_target: the one decision of the push's broker and login, for the
push itself and for what boards are given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from visioncast import config
from visioncast.boardcode import COLOURS, Action, label_topic, pushed_actions
from visioncast.broker.acl import Login
from visioncast.errors import ConfigError, InputError
from visioncast.sinks.push_target import BrokerAddress, push_target

LOCAL = BrokerAddress("0.0.0.0", 1883, "visioncast", "boards-pw")


@dataclass(frozen=True)
class Running:
    """A running broker as a BrokerHandle describes it: its own server login besides the boards'."""

    host: str
    port: int
    username: str
    password: str
    server_login: Login

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


@pytest.mark.parametrize(("overrides", "board"), [
    ({}, None),  # host "": this server's broker
    ({"mqtt.host": "127.0.0.1", "mqtt.port": 1883}, None),  # loopback on this server's broker's port
    ({"mqtt.host": "127.0.0.1", "mqtt.port": 1884}, ("127.0.0.1", 1884, "", "")),
    ({"mqtt.host": "broker.school.lan", "mqtt.username": "server", "mqtt.password": "secret"},
     ("broker.school.lan", 1883, "", "")),  # the server's own login is not given to boards
    ({"mqtt.url": "mqtt://srv:pw@10.0.0.5:1999"}, ("10.0.0.5", 1999, "", "")),
    ({"mqtt.host": "10.0.0.9", "mqtt.preset": "siot"}, ("10.0.0.9", 1883, "siot", "dfrobot")),
    ({"mqtt.host": "10.0.0.9", "broker.preset": "siot"}, ("10.0.0.9", 1883, "siot", "dfrobot")),
    ({"mqtt.host": "10.0.0.9", "mqtt.preset": "siot", "mqtt.username": "mine"}, ("10.0.0.9", 1883, "", "")),
])
def test_what_boards_are_given(overrides: dict[str, Any], board: tuple[str, int, str, str] | None) -> None:
    to = push_target(cfg_with(**overrides).mqtt, LOCAL)
    assert to.local is (board is None)
    got = (to.board_host, to.board_port, to.board_user, to.board_password)
    assert got == (board or ("0.0.0.0", 1883, "visioncast", "boards-pw"))


def test_the_server_logs_in_to_its_broker_with_its_own_login_and_nowhere_else() -> None:
    server = Login("visioncast-server", "server-pw", "server")
    running = Running("0.0.0.0", 1884, "visioncast", "boards-pw", server)
    to = push_target(cfg_with().mqtt, running)
    assert (to.mqtt.host, to.mqtt.port, to.mqtt.username, to.mqtt.password) == (
        "127.0.0.1", 1884, "visioncast-server", "server-pw")
    assert (to.board_user, to.board_password) == ("visioncast", "boards-pw")
    away = push_target(cfg_with(**{"mqtt.host": "10.0.0.9"}).mqtt, running)
    assert (away.mqtt.host, away.mqtt.username, away.mqtt.password) == ("10.0.0.9", "", "")


def test_siot_pushes_log_in_as_siot_and_the_policy_is_resolved() -> None:
    to = push_target(cfg_with(**{"mqtt.host": "10.0.0.9", "broker.preset": "siot"}).mqtt, None)
    assert (to.mqtt.preset, to.mqtt.username, to.mqtt.password, to.mqtt.policy) == (
        "siot", "siot", "dfrobot", "change")


def test_no_broker_here_and_no_host_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="runs none"):
        push_target(cfg_with().mqtt, None)
