"""The board examples' logic: the fan follows a face to the middle of the picture and keeps still within its
dead band; "hands up" counts wrists above shoulders, on MoveNet's answer for a real photo too."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import cv2
import pytest

from visioncast.core.payload import result_to_payload
from visioncast.models import load_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("face_at", "invert"), [(140.0, False), (30.0, False), (140.0, True)])
def test_fan_turns_until_the_face_is_in_the_middle(face_at, invert):
    """A simulated room: the face at ``face_at`` degrees; the camera on the fan sees it at
    x = 50 + (face − fan angle) × 1.2 (%), or mirrored when the servo is mounted the other way round."""
    fan = example("fan_follow_face").Follower(invert=invert)
    for _ in range(60):
        offset = (face_at - fan.angle) * 1.2
        fan.update(round(min(100, max(0, 50 + (-offset if invert else offset)))))
    assert abs(fan.angle - face_at) <= fan.dead_band / 1.2 + 1
    still = fan.angle
    fan.update(50 + fan.dead_band - 1)
    assert fan.angle == still  # within the dead band: no move


def test_fan_smooths_a_jump_and_keeps_its_angle_when_the_face_is_lost():
    fan = example("fan_follow_face").Follower(smoothing=0.5, gain=1.0, max_step=100)
    fan.update(50)
    assert fan.update(90) == pytest.approx(90 + (70 - 50))  # half way to 90 after one message
    assert fan.lost() == pytest.approx(110)
    assert fan.x is None
    assert example("fan_follow_face").servo_duty(90) == int(1.5 / 20 * 65535)


def person(left_wrist_y: float, right_wrist_y: float) -> list[list[float]]:
    kp = [[0.0, 0.0, 0.9] for _ in range(17)]
    kp[5], kp[6] = [120, 100, 0.9], [80, 100, 0.9]  # shoulders, 40 px apart
    kp[9], kp[10] = [125, left_wrist_y, 0.9], [75, right_wrist_y, 0.9]
    return kp


@pytest.mark.parametrize(("left", "right", "hands"), [(50, 60, 2), (50, 150, 1), (97, 150, 0), (150, 150, 0)])
def test_raised_hands(left, right, hands):
    assert example("hands_up").raised_hands(person(left, right)) == hands


def test_hands_down_in_a_real_squat(data_dir):
    result = load_model("movenet-lightning")(cv2.imread(str(data_dir / "squat.jpg")))
    payload = json.loads(json.dumps(result_to_payload(result)))
    hands_up = example("hands_up")
    assert hands_up.hands_in(payload) == 0  # arms held forward, wrists at shoulder height
    payload["detections"][0]["keypoints"][9][1] = 100.0  # the left wrist lifted above the head
    assert hands_up.hands_in(payload) == 1
    assert hands_up.hands_in({"task": "detect", "detections": []}) is None
