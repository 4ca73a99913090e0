"""Every person's pose: YOLOX-nano's people → MoveNet on each person's square → keypoints in image pixels,
on real photos with the shipped models; the two models run as one staged runtime, the same way synchronously
and on the pipeline's async queue; the crop maths and the batching pinned."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from visioncast.core.payload import RESULT_SCHEMA, result_to_payload
from visioncast.core.types import COCO_KEYPOINTS
from visioncast.models import load_model
from visioncast.runtimes.base import TensorSpec
from visioncast.tasks.base import Task, TaskOptions, run_stages
from visioncast.tasks.people import biggest
from visioncast.tasks.pose import Crop, MoveNetPose, person_crop

jsonschema = pytest.importorskip("jsonschema")
K = {name: i for i, name in enumerate(COCO_KEYPOINTS)}


def test_both_people_of_zidane_get_a_skeleton(people_pose, data_dir):
    image = cv2.imread(str(data_dir / "zidane.jpg"))
    assert isinstance(people_pose, Task)
    assert people_pose.for_stream() is people_pose  # no state between frames
    result = people_pose(image)
    dets = result.detections
    assert result.task == "pose"
    assert dets.labels == ("person", "person")
    assert dets.keypoints.shape == (2, 17, 3)
    detector = load_model("yolox-nano")(image, TaskOptions(classes=(0,), conf=0.3)).detections
    np.testing.assert_allclose(dets.xyxy, detector.xyxy, atol=0.01)  # the detector's boxes and scores
    np.testing.assert_allclose(dets.score, detector.score, atol=1e-6)
    for i in range(2):  # a head above its shoulders, inside its own box
        kp = dets.keypoints[i]
        assert kp[K["nose"], 1] < kp[K["left_shoulder"], 1]
        assert (kp[:5, 2] > 0.3).sum() >= 3
        x1, y1, x2, y2 = dets.xyxy[i]
        assert x1 <= kp[K["nose"], 0] <= x2
        assert y1 <= kp[K["nose"], 1] <= y2
    jsonschema.validate(result_to_payload(result), RESULT_SCHEMA)


def test_one_person_matches_movenet_alone(people_pose, data_dir):
    """squat.jpg is one person filling the photo: MoveNet on its square sees what MoveNet on the whole photo
    sees, so the keypoints agree to a few pixels."""
    image = cv2.imread(str(data_dir / "squat.jpg"))
    top_down = people_pose(image).detections
    alone = load_model("movenet-lightning")(image).detections
    assert len(top_down) == len(alone) == 1
    seen = (top_down.keypoints[0, :, 2] > 0.5) & (alone.keypoints[0, :, 2] > 0.5)
    assert seen.sum() >= 15
    gap = np.abs(top_down.keypoints[0, seen, :2] - alone.keypoints[0, seen, :2]).max(axis=1)
    assert np.median(gap) < 12


def test_nobody_gives_an_empty_answer(people_pose):
    result = people_pose(np.full((240, 320, 3), 90, np.uint8))
    assert len(result.detections) == 0
    assert result.detections.keypoints is None
    jsonschema.validate(result_to_payload(result), RESULT_SCHEMA)


def test_options_are_the_peoples(people_pose, data_dir):
    image = cv2.imread(str(data_dir / "bus.jpg"))
    assert len(people_pose(image).detections) == 3
    assert len(people_pose(image, TaskOptions(max_det=1)).detections) == 1
    assert len(people_pose(image, TaskOptions(conf=0.2)).detections) == 4  # the man cut by the frame too
    assert len(people_pose(image, TaskOptions(conf=0.9)).detections) == 0


def test_person_crop_is_the_boxs_square_with_a_margin():
    crop = person_crop(np.array([100, 50, 200, 450], np.float32))
    assert crop == Crop(-100.0, 0.0, 500.0)  # 400 × 1.25, centred on (150, 250)
    assert person_crop(np.array([0, 0, 80, 40], np.float32), 1.0) == Crop(0.0, -20.0, 80.0)


class BatchRuntime:
    """A MoveNet-shaped Runtime (the designed seam of task tests): answers the centre of each crop with the
    crop's mean brightness as score; ``batch`` None = a dynamic batch axis; records each call's batch."""

    engine = "fake"
    metadata: dict[str, str] = {}  # noqa: RUF012 - the protocol's attribute

    def __init__(self, batch: int | None) -> None:
        self.inputs = (TensorSpec("input", (batch or "n", 192, 192, 3), "int32"),)
        self.outputs = (TensorSpec("out", (batch or "n", 1, 17, 3), "float32"),)
        self.calls: list[int] = []

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        x = feeds["input"]
        self.calls.append(len(x))
        out = np.full((len(x), 1, 17, 3), 0.5, np.float32)
        out[..., 2] = (x.reshape(len(x), -1).mean(axis=1) / 255)[:, None, None]
        return [out]

    def open_async(self, jobs: int, callback: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("batch", "calls"), [(None, [3]), (1, [1, 1, 1])])
def test_crops_go_in_one_batch_when_the_model_takes_one(batch, calls):
    image = np.zeros((300, 600, 3), np.uint8)
    image[:, 200:400] = 255  # the middle crop is bright
    runtime = BatchRuntime(batch)
    crops = [Crop(0, 0, 200), Crop(200, 0, 200), Crop(400, 50, 100)]
    kps = MoveNetPose(runtime).keypoints_in(image, crops)
    assert runtime.calls == calls
    assert kps.shape == (3, 17, 3)
    np.testing.assert_allclose(kps[:, 0, :2], [[100, 100], [300, 100], [450, 100]])  # each crop's centre
    assert kps[1, 0, 2] > 0.99
    assert kps[0, 0, 2] < 0.01


def test_biggest_is_the_largest_box(people_pose, data_dir):
    dets = run_stages(people_pose, cv2.imread(str(data_dir / "bus.jpg"))).detections
    areas = (dets.xyxy[:, 2] - dets.xyxy[:, 0]) * (dets.xyxy[:, 3] - dets.xyxy[:, 1])
    assert biggest(dets) == int(areas.argmax())
