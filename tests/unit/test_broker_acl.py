"""The broker's rule table: topic-filter matching, who may publish where, and the Mosquitto acl_file."""

from __future__ import annotations

import pytest

from visioncast.broker.acl import Login, matches, mosquitto_acl, permits

CMD = "visioncast/+/cmd"


@pytest.mark.parametrize(("topic", "topic_filter", "expected"), [
    ("visioncast/教室/label", "visioncast/+/label", True),
    ("visioncast/a/b/label", "visioncast/+/label", False),
    ("board/a1/temp", "board/#", True),
    ("board", "board/#", True),  # '#' also matches the parent level [MQTT-4.7.1-2]
    ("boards/a1", "board/#", False),
    ("visioncast/status", "#", True),
    ("$SYS/broker/uptime", "#", False),  # [MQTT-4.7.2-1]
    ("visioncast/cam/cmd", CMD, True),
    ("visioncast/cam/cmd/reply", CMD, False),
])
def test_matches(topic: str, topic_filter: str, expected: bool) -> None:
    assert matches(topic, topic_filter) is expected


@pytest.mark.parametrize(("role", "topic", "publish", "expected"), [
    ("server", "visioncast/cam/label", True, True),
    ("teacher", "visioncast/cam/cmd", True, True),
    ("teacher", "visioncast/cam/label", True, False),
    ("board", "visioncast/cam/cmd", True, False),
    ("board", "visioncast/cam/label", True, False),
    ("board", "board/a1/status", True, True),
    ("board", "visioncast/#", False, True),  # every login reads everything
    (None, "board/a1/status", True, False),  # an unknown login gets nothing
    (None, "visioncast/#", False, False),
])
def test_permits(role: str | None, topic: str, publish: bool, expected: bool) -> None:
    assert permits(role, topic, CMD, publish=publish) is expected


def test_mosquitto_acl_puts_anonymous_rules_first_then_one_block_per_login() -> None:
    text = mosquitto_acl([Login("visioncast-server", "x", "server"), Login("teacher", "y", "teacher"),
                          Login("board", "z", "board")], CMD, anonymous=True)
    blocks = text.split("\n\n")
    assert blocks[0].splitlines()[1:] == ["topic read #", "topic write board/#"]
    assert blocks[1].splitlines() == ["user visioncast-server", "topic read #", "topic write #"]
    assert blocks[2].splitlines() == ["user teacher", "topic read #", f"topic write {CMD}",
                                      "topic write board/#"]
    assert blocks[3].splitlines() == ["user board", "topic read #", "topic write board/#"]
    assert "x" not in text.split()  # no password in the ACL
