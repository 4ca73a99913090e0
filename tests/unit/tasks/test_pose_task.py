"""Pose: MoveNet on real photos (shipped model), its crop geometry pinned by tiny graphs, and the Ultralytics
pose layout pinned by a tiny [1, 56, N] graph (no AGPL weights)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tiny_onnx import constant_model
from visioncast.core.payload import result_from_payload, result_to_payload
from visioncast.core.types import COCO_KEYPOINTS
from visioncast.errors import ModelError
from visioncast.models import load_model
from visioncast.models.registry import guess_task
from visioncast.runtimes import open_runtime
from visioncast.tasks.base import Task
from visioncast.tasks.pose import Crop, MoveNetPose, cut_square, follow_crop
from visioncast.tasks.yolo_pose import UltralyticsPose

K = {name: i for i, name in enumerate(COCO_KEYPOINTS)}


def test_movenet_is_a_task_with_17_keypoints_in_pixels_on_a_real_photo(movenet, data_dir):
    image = cv2.imread(str(data_dir / "squat.jpg"))
    assert isinstance(movenet, Task)
    result = movenet(image)
    assert result.task == "pose"
    assert (result.width, result.height) == (500, 610)
    dets = result.detections
    assert len(dets) == 1
    assert dets.labels == ("person",)
    assert dets.score[0] > 0.6
    kp = dets.keypoints[0]
    assert kp.shape == (17, 3)
    assert np.all(kp[:, 2] > 0.5)
    x1, y1, x2, y2 = dets.xyxy[0]
    assert np.all((kp[:, 0] >= x1) & (kp[:, 0] <= x2) & (kp[:, 1] >= y1) & (kp[:, 1] <= y2))
    # Anatomy of a squat seen from the side: head over shoulders over hips, ankles lowest.
    y = kp[:, 1]
    assert y[K["nose"]] < y[K["left_shoulder"]] < y[K["left_hip"]] < y[K["left_ankle"]]
    assert y[K["right_ankle"]] > 480
    assert y[K["nose"]] < 260
    assert set(result.timings_ms) == {"preprocess", "inference", "postprocess"}


def test_movenet_payload_round_trip_keeps_keypoints(movenet, data_dir):
    result = movenet(cv2.imread(str(data_dir / "zidane.jpg")))
    payload = result_to_payload(result)
    assert payload["task"] == "pose"
    assert len(payload["detections"][0]["keypoints"]) == 17
    back = result_from_payload(payload)
    assert back.task == "pose"
    np.testing.assert_allclose(back.detections.keypoints, result.detections.keypoints, atol=0.01)


def test_no_person_below_conf(movenet, data_dir):
    blank = np.full((240, 320, 3), 128, np.uint8)
    assert len(movenet(blank).detections) == 0


@pytest.mark.parametrize(("wh", "crop"), [
    ((200, 100), Crop(0, -50, 200)),  # the whole image, centred
    ((100, 200), Crop(-50, 0, 200)),
    ((400, 300), Crop(100, 50, 100)),  # a region inside
    ((1000, 800), Crop(-100, -100, 1200)),  # a strong shrink (INTER_AREA first)
])
def test_cut_square_maps_input_pixels_back_to_the_original(wh, crop):
    w, h = wh
    image = np.zeros((h, w, 3), np.uint8)
    cx, cy = int(crop.x0 + crop.side * 0.4), int(crop.y0 + crop.side * 0.7)
    cv2.circle(image, (cx, cy), max(3, int(crop.side / 40)), (255, 255, 255), -1)
    square = cut_square(image, crop, 96)
    ys, xs = np.nonzero(square[:, :, 0] > 100)
    u, v = xs.mean(), ys.mean()
    assert abs(crop.x0 + (u + 0.5) * crop.side / 96 - (cx + 0.5)) < crop.side / 96 + 1
    assert abs(crop.y0 + (v + 0.5) * crop.side / 96 - (cy + 0.5)) < crop.side / 96 + 1


def movenet_graph(tmp_path, yx_score: np.ndarray):
    """A MoveNet interface (int32 [1, 192, 192, 3] → [1, 1, 17, 3]) answering a constant."""
    out = np.asarray(yx_score, np.float32).reshape(1, 1, 17, 3)
    return constant_model(tmp_path / "movenet.onnx", {"Identity:0": out}, input_name="input:0",
                          input_shape=(1, 192, 192, 3), input_type=6)  # 6 = INT32


def test_movenet_output_is_mapped_through_the_crop(tmp_path):
    yx = np.zeros((17, 3), np.float32)
    yx[:, 0] = np.linspace(0.3, 0.7, 17)  # y
    yx[:, 1] = np.linspace(0.2, 0.6, 17)  # x
    yx[:, 2] = 0.9
    runtime = open_runtime(movenet_graph(tmp_path, yx))
    assert guess_task(runtime) == "pose"
    task = MoveNetPose(runtime, name="tiny")
    image = np.zeros((100, 300, 3), np.uint8)  # whole-image crop: x0 = 0, y0 = −100, side 300
    kp = task(image).detections.keypoints[0]
    np.testing.assert_allclose(kp[:, 0], yx[:, 1] * 300, atol=1e-3)
    np.testing.assert_allclose(kp[:, 1], (yx[:, 0] * 300 - 100).clip(0, 100), atol=1e-3)


def test_follow_crops_around_the_previous_body_and_resets(tmp_path):
    yx = np.full((17, 3), 0.5, np.float32)  # every keypoint near the centre of the square
    yx[[5, 6], 0], yx[[11, 12], 0] = 0.45, 0.55  # shoulders above hips
    yx[[5, 11], 1], yx[[6, 12], 1] = 0.48, 0.52
    yx[:, 2] = 0.9
    task = MoveNetPose(open_runtime(movenet_graph(tmp_path, yx)), name="tiny").for_stream()
    image = np.zeros((400, 400, 3), np.uint8)
    first = task.prepare(image)
    assert first.context == Crop(0, 0, 400)
    task.postprocess(task.infer(first.feeds), first)
    second = task.prepare(image)
    assert second.context.side < 400 / 2  # a tight region around the body
    centre = second.context.x0 + second.context.side / 2
    assert abs(centre - 200) < 2
    task.reset()
    assert task.prepare(image).context == Crop(0, 0, 400)
    still = MoveNetPose(task.runtime, name="tiny")  # follow off: always the whole image
    still.postprocess(still.infer(first.feeds), first)
    assert still.prepare(image).context == Crop(0, 0, 400)


def test_follow_crop_needs_the_torso():
    kp = np.zeros((17, 3), np.float32)
    kp[:, :2] = 100
    kp[:, 2] = 0.9
    kp[[11, 12], 2] = 0.05  # hips not seen
    assert follow_crop(kp, 640, 480) is None


def ultralytics_pose_output(n: int = 16) -> np.ndarray:
    """People in a 64×64 input: A 0.9, B 0.8 overlapping A (suppressed), C 0.6; D at 0.1 (under conf)."""
    out = np.zeros((1, 56, n), np.float32)
    people = [((32, 32, 20, 30), 0.9, 10.0), ((33, 32, 20, 30), 0.8, 11.0), ((50, 20, 10, 10), 0.6, 40.0),
              ((10, 10, 4, 4), 0.1, 5.0)]
    for col, (box, score, base) in enumerate(people):
        out[0, :4, col] = box
        out[0, 4, col] = score
        kps = np.stack([np.full(17, base), np.full(17, base + 16), np.linspace(0, 1, 17)], axis=1)
        out[0, 5:, col] = kps.reshape(-1)
    return out


def test_ultralytics_pose_layout_decodes_people_and_keypoints(tmp_path):
    path = constant_model(tmp_path / "pose.onnx", {"output0": ultralytics_pose_output()},
                          metadata={"author": "Ultralytics", "task": "pose", "kpt_shape": "[17, 3]",
                                    "names": "{0: '人'}", "imgsz": "[64, 64]"})
    model = load_model(path)
    assert isinstance(model, UltralyticsPose)
    assert isinstance(model, Task)
    assert model.labels == ("人",)
    image = np.zeros((64, 128, 3), np.uint8)  # letterbox: scale 0.5, 16 rows of padding above and below
    dets = model(image).detections
    assert dets.labels == ("人", "人")
    np.testing.assert_allclose(dets.score, [0.9, 0.6], atol=1e-6)
    np.testing.assert_allclose(dets.xyxy[0], [44, 2, 84, 62], atol=1e-3)
    np.testing.assert_allclose(dets.keypoints[0, :, 0], 20, atol=1e-3)  # (10 − 0) / 0.5
    np.testing.assert_allclose(dets.keypoints[0, :, 1], (26 - 16) / 0.5, atol=1e-3)
    # C: x = 40 / 0.5; y = (56 − 16) / 0.5 = 80 lies below the 64-row image: clipped to it
    np.testing.assert_allclose(dets.keypoints[1, :, :2], [[80, 64]] * 17, atol=1e-3)
    np.testing.assert_allclose(dets.keypoints[0, :, 2], np.linspace(0, 1, 17), atol=1e-6)


def test_ultralytics_pose_recognised_without_metadata_and_refused_as_detect(tmp_path):
    path = constant_model(tmp_path / "pose.onnx", {"output0": ultralytics_pose_output()},
                          metadata={"author": "Ultralytics", "task": "pose"})
    with pytest.raises(ModelError, match="pose model, not detect"):
        load_model(path, task="detect")
    bare = constant_model(tmp_path / "bare.onnx", {"output0": ultralytics_pose_output(n=80)})
    assert isinstance(load_model(bare), UltralyticsPose)
