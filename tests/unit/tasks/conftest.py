"""The shipped pose models, loaded once per module that asks for them."""

from __future__ import annotations

import pytest

from visioncast.models import load_model
from visioncast.tasks.people import TopDownPose
from visioncast.tasks.pose import MoveNetPose


@pytest.fixture(scope="module")
def movenet() -> MoveNetPose:
    model = load_model("movenet-lightning")
    assert isinstance(model, MoveNetPose)
    return model


@pytest.fixture(scope="module")
def people_pose() -> TopDownPose:
    model = load_model("people-pose")
    assert isinstance(model, TopDownPose)
    return model
