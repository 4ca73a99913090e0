"""boardcode.actions: a label's LED colour, servo angle and text parsed from what a request or the command
line gives, each bad value an InputError naming the label and what came."""

from __future__ import annotations

from typing import Any

import pytest

from visioncast.boardcode import (
    COLOURS,
    Action,
    action_from,
    as_sent,
    default_colours,
    parse_angle,
    parse_colour,
    parse_text,
)
from visioncast.errors import InputError

YELLOW, RED = COLOURS["yellow"], COLOURS["red"]


@pytest.mark.parametrize(("text", "rgb"), [("yellow", YELLOW), (" Red ", RED), ("#0a0B0c", (10, 11, 12)),
                                           ("off", (0, 0, 0))])
def test_colours_by_name_or_hex(text: str, rgb: tuple[int, int, int]) -> None:
    assert parse_colour(text) == rgb


@pytest.mark.parametrize("text", ["pink", "#12345", "#gggggg", "", "255,0,0"])
def test_unknown_colours_are_named_in_the_error(text: str) -> None:
    with pytest.raises(InputError, match="for label '开心' must be one of red, yellow"):
        parse_colour(text, label="开心")


def test_default_colours_follow_the_palette_and_colour_names() -> None:
    assert default_colours(["开心", "愤怒", "Blue"]) == {"开心": YELLOW, "愤怒": RED, "Blue": COLOURS["blue"]}


@pytest.mark.parametrize(("value", "angle"), [(0, 0), (180, 180), (90.4, 90), (" 45 ", 45), ("179.6", 180),
                                              (0.0, 0)])
def test_angles_are_whole_degrees(value: Any, angle: int) -> None:
    assert parse_angle(value) == angle


@pytest.mark.parametrize(("value", "message"), [
    ("ninety", "must be a number of degrees 0–180, got 'ninety'"),
    ("", "must be a number of degrees"),
    (True, "must be a number of degrees"),
    (None, "must be a number of degrees"),
    (float("nan"), "must be a number of degrees"),
    ("inf", "must be a number of degrees"),
    (-1, "must be 0–180 degrees, got -1"),
    (-0.4, "must be 0–180 degrees, got -0.4"),
    (180.5, "must be 0–180 degrees, got 180.5"),
    ([90], "must be a number of degrees"),
])
def test_bad_angles_name_the_label_and_the_value(value: Any, message: str) -> None:
    with pytest.raises(InputError, match="servo angle for label '举手' ") as info:
        parse_angle(value, label="举手")
    assert message in str(info.value)


@pytest.mark.parametrize(("value", "text"), [(None, None), ("", None), ("你好 :)", "你好 :)"),
                                             ("x" * 64, "x" * 64)])
def test_texts(value: Any, text: str | None) -> None:
    assert parse_text(value) == text


@pytest.mark.parametrize(("value", "message"), [
    ("x" * 65, "at most 64 characters, got 65"),
    ("two\nlines", "one line of text without control characters"),
    ("tab\there", "one line of text"),
    ("line\u2028separator", "one line of text"),
    ("\ud800", "one line of text"),
    (5, "must be a string, got int"),
])
def test_bad_texts_name_the_label(value: Any, message: str) -> None:
    with pytest.raises(InputError, match="text for label '开心' ") as info:
        parse_text(value, label="开心")
    assert message in str(info.value)


@pytest.mark.parametrize(("value", "action"), [
    ("yellow", Action(colour=YELLOW)),
    ({"colour": "red", "servo": 90, "text": "哈"}, Action(colour=RED, servo_deg=90, text="哈")),
    ({"servo": 0}, Action(servo_deg=0)),
    ({"text": "hi", "servo": None}, Action(text="hi")),
    ({}, Action()),
])
def test_an_action_is_a_colour_or_an_object(value: Any, action: Action) -> None:
    assert action_from(value, label="开心") == action


@pytest.mark.parametrize(("value", "message"), [
    ({"color": "red"}, "unknown key 'color' for label '开心'; known: colour, servo, text"),
    ({"colour": 3}, "colour for label '开心' must be a string, got int"),
    ({"servo": "left"}, "servo angle for label '开心' must be a number of degrees 0–180, got 'left'"),
    ({"servo": 181}, "servo angle for label '开心' must be 0–180 degrees, got 181"),
    ({"text": "y" * 100}, "text for label '开心' must be at most 64 characters"),
    (7, "label '开心' must map to a colour or an object with colour, servo, text, got int"),
])
def test_bad_actions_are_named(value: Any, message: str) -> None:
    with pytest.raises(InputError) as info:
        action_from(value, label="开心")
    assert message in str(info.value)


def test_labels_are_keyed_by_what_the_push_sends() -> None:
    actions = {"开心": Action(colour=YELLOW), "高兴": Action(colour=YELLOW), "愤怒": Action(colour=RED)}
    sent = as_sent(actions, {"开心": "happy", "高兴": "happy"})
    assert sent == {"happy": Action(colour=YELLOW), "愤怒": Action(colour=RED)}
    with pytest.raises(InputError, match="labels '开心' and '愤怒' are both sent as 'x'"):
        as_sent(actions, {"开心": "x", "愤怒": "x"})
