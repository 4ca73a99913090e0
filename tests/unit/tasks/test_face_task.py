"""Face: YuNet decoded through the Runtime gives OpenCV's own FaceDetectorYN answer on real photos, and the
decoding maths is pinned on hand-made output maps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from visioncast.core.boxes import iou_matrix
from visioncast.core.payload import result_to_payload
from visioncast.models import load_model
from visioncast.models.registry import find_model, guess_task
from visioncast.runtimes import open_runtime
from visioncast.tasks.base import Task
from visioncast.tasks.face import YuNetFace, decode_yunet


@pytest.fixture(scope="module")
def yunet() -> YuNetFace:
    model = load_model("yunet")
    assert isinstance(model, YuNetFace)
    return model


def opencv_faces(path: str, image: np.ndarray) -> np.ndarray:
    """cv2.FaceDetectorYN on the whole image (score 0.7, NMS 0.3), rows sorted by score."""
    h, w = image.shape[:2]
    detector = cv2.FaceDetectorYN.create(path, "", (w, h), 0.7, 0.3, 5000)
    _, faces = detector.detect(image)
    faces = np.zeros((0, 15), np.float32) if faces is None else faces
    return faces[np.argsort(-faces[:, 14], kind="stable")]


@pytest.mark.parametrize(("name", "count"), [("faces.jpg", 4), ("zidane.jpg", 2), ("bus.jpg", 2)])
def test_same_faces_and_landmarks_as_opencv_facedetectoryn(yunet, data_dir, name, count):
    image = cv2.imread(str(data_dir / name))
    full = YuNetFace(yunet.runtime, name="yunet", max_side=10_000)  # no shrink: OpenCV's input size
    dets = full(image).detections
    faces = opencv_faces(str(find_model("yunet").path), image)
    assert len(dets) == len(faces) == count
    xyxy = np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:4]], axis=1)
    np.testing.assert_allclose(dets.xyxy, xyxy, atol=0.05)
    np.testing.assert_allclose(dets.keypoints[:, :, :2].reshape(-1, 10), faces[:, 4:14], atol=0.05)
    np.testing.assert_allclose(dets.score, faces[:, 14], atol=1e-5)


def test_default_size_finds_the_same_faces_faster(yunet, data_dir):
    image = cv2.imread(str(data_dir / "zidane.jpg"))  # 1280×720 → shrunk to 640×360, padded to 640×384
    prepared = yunet.prepare(image)
    assert prepared.feeds["input"].shape == (1, 3, 384, 640)
    result = yunet(image)
    assert isinstance(yunet, Task)
    assert result.task == "face"
    dets = result.detections
    assert dets.labels == ("face", "face")
    assert dets.keypoints.shape == (2, 5, 3)
    full = YuNetFace(yunet.runtime, max_side=10_000)(image).detections
    assert np.diag(iou_matrix(dets.xyxy, full.xyxy)).min() > 0.8  # the same faces (a profile face moves most)
    # The subject's right eye is on the image's left, the nose between the eyes and above the mouth.
    eyes_r, eyes_l, nose, mouth_r = (dets.keypoints[0, i] for i in (0, 1, 2, 3))
    assert eyes_r[0] < nose[0] < eyes_l[0]
    assert nose[1] < mouth_r[1]
    payload = result_to_payload(result)
    assert payload["task"] == "face"
    assert len(payload["detections"][0]["keypoints"]) == 5


def test_no_face_in_a_plain_image(yunet):
    result = yunet(np.full((200, 300, 3), 200, np.uint8))
    assert len(result.detections) == 0


def test_yunet_is_recognised_from_its_outputs():
    runtime = open_runtime(find_model("yunet").path)
    assert guess_task(runtime) == "face"


def test_decode_maps_one_cell_per_stride():
    """A 64×32 input: stride 8 has 8×4 cells, 16 has 4×2, 32 has 2×1; one face in cell (c=2, r=1) of
    stride 8, one below the threshold at stride 32."""
    maps = []
    for dims in (1, 1, 4, 10):  # cls, obj, bbox, kps
        maps += [np.zeros((1, (64 // s) * (32 // s), dims), np.float32) for s in (8, 16, 32)]
    maps[0][0, 1 * 8 + 2, 0], maps[3][0, 1 * 8 + 2, 0] = 0.81, 1.2  # cls 0.81, obj clipped to 1 → 0.9
    maps[6][0, 1 * 8 + 2] = [0.5, 0.25, np.log(2), np.log(3)]
    maps[9][0, 1 * 8 + 2] = [0, 0, 1, 0, 0.5, 0.5, 0, 1, 1, 1]
    maps[2][0, 1, 0], maps[5][0, 1, 0] = 0.3, 0.3  # score 0.3: under conf
    boxes, scores, kps = decode_yunet(maps, 64, 32, conf=0.5)
    np.testing.assert_allclose(scores, [0.9], atol=1e-6)
    # centre ((2, 1) + (0.5, 0.25))·8 = (20, 10); size (2·8, 3·8) = (16, 24)
    np.testing.assert_allclose(boxes, [[12, -2, 28, 22]], atol=1e-4)
    np.testing.assert_allclose(kps[0], [[16, 8], [24, 8], [20, 12], [16, 16], [24, 16]], atol=1e-4)
