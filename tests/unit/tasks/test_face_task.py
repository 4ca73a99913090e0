"""Face: YuNet decoded through the Runtime gives OpenCV's own FaceDetectorYN answer on real photos, and the
decoding maths is pinned on hand-made output maps."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from visioncast.core.boxes import iou_matrix
from visioncast.core.payload import result_to_payload
from visioncast.models import load_model
from visioncast.models.registry import find_model, guess_task
from visioncast.runtimes import open_runtime
from visioncast.tasks.base import Task
from visioncast.tasks.face import YuNetFace, decode_yunet, tile_starts


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
    full = YuNetFace(yunet.model_runtime, name="yunet", stream_side=10_000)  # one pass: OpenCV's input size
    dets = full(image).detections
    faces = opencv_faces(str(find_model("yunet").path), image)
    assert len(dets) == len(faces) == count
    xyxy = np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:4]], axis=1)
    np.testing.assert_allclose(dets.xyxy, xyxy, atol=0.05)
    np.testing.assert_allclose(dets.keypoints[:, :, :2].reshape(-1, 10), faces[:, 4:14], atol=0.05)
    np.testing.assert_allclose(dets.score, faces[:, 14], atol=1e-5)


def test_streams_search_at_640_and_find_the_same_faces(yunet, data_dir):
    image = cv2.imread(str(data_dir / "zidane.jpg"))  # 1280×720 → shrunk to 640×360, padded to 640×384
    stream = yunet.for_stream()
    assert stream is yunet.for_stream()  # no state between frames: one for every stream
    prepared = stream.prepare(image)
    assert [x.shape for x in prepared.feeds.values()] == [(1, 3, 384, 640)]
    assert stream.runtime is yunet.model_runtime  # one model call: the pipeline's async queue runs it
    result = stream(image)
    assert isinstance(stream, Task)
    assert result.task == "face"
    dets = result.detections
    assert dets.labels == ("face", "face")
    assert dets.keypoints.shape == (2, 5, 3)
    full = YuNetFace(yunet.model_runtime, stream_side=10_000)(image).detections
    assert np.diag(iou_matrix(dets.xyxy, full.xyxy)).min() > 0.8  # the same faces (a profile face moves most)
    # The subject's right eye is on the image's left, the nose between the eyes and above the mouth.
    eyes_r, eyes_l, nose, mouth_r = (dets.keypoints[0, i] for i in (0, 1, 2, 3))
    assert eyes_r[0] < nose[0] < eyes_l[0]
    assert nose[1] < mouth_r[1]
    payload = result_to_payload(result)
    assert payload["task"] == "face"
    assert len(payload["detections"][0]["keypoints"]) == 5


def widths(dets) -> np.ndarray:
    return np.sort(dets.xyxy[:, 2] - dets.xyxy[:, 0])


def test_a_photo_is_searched_at_its_own_resolution_and_finds_10_pixel_faces(yunet, data_dir):
    """small_faces.jpg (1441×731): OpenCV's FaceDetectorYN at full size finds 28 faces, 10–81 px wide; the
    still task finds every one of them, the stream size (640) none under 20 px."""
    image = cv2.imread(str(data_dir / "small_faces.jpg"))
    faces = opencv_faces(str(find_model("yunet").path), image)
    reference = np.concatenate([faces[:, :2], faces[:, :2] + faces[:, 2:4]], axis=1)
    assert len(reference) == 28
    prepared = yunet.prepare(image)
    assert [x.shape for x in prepared.feeds.values()] == [(1, 3, 352, 640), (1, 3, 736, 1472)]
    still = yunet(image).detections
    assert (iou_matrix(reference, still.xyxy).max(axis=1) > 0.5).all()  # each of OpenCV's faces
    assert widths(still)[0] <= 10.5
    stream = yunet.for_stream()(image).detections
    assert 10 <= len(stream) < 20
    assert widths(stream)[0] > 19


@pytest.mark.parametrize("max_side", [600, 256])
def test_beyond_the_cap_tiles_find_the_same_faces_once(yunet, data_dir, max_side):
    image = cv2.imread(str(data_dir / "small_faces.jpg"))
    tiled = YuNetFace(yunet.model_runtime, max_side=max_side)
    plan = tiled.passes(1441, 731)
    assert len(plan) > 2
    assert all(p.width <= max(max_side, 256) and p.height <= max(max_side, 256) for p in plan[1:])
    dets = tiled(image).detections
    whole = yunet(image).detections
    matched = iou_matrix(whole.xyxy, dets.xyxy).max(axis=1) > 0.5
    assert matched.sum() >= len(whole) - 2  # a tile sees a little less context than the whole photo
    assert widths(dets)[0] <= 10.5
    x1, y1, x2, y2 = (dets.xyxy[:, None, i] for i in range(4))
    inter = (np.minimum(x2, x2.T) - np.maximum(x1, x1.T)).clip(0) * (np.minimum(y2, y2.T) - np.maximum(
        y1, y1.T)).clip(0)
    area = (x2 - x1) * (y2 - y1)
    overlap = inter / np.minimum(area, area.T)
    np.fill_diagonal(overlap, 0)
    assert overlap.max() < 0.5, "a face cut by a tile edge was kept twice"


@pytest.mark.parametrize(("length", "tile", "overlap"), [(1441, 600, 128), (731, 600, 128), (600, 600, 128),
                                                         (5000, 1920, 128), (257, 256, 128)])
def test_tiles_cover_the_side_and_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0
    assert starts[-1] + min(tile, length) == length
    assert all(b - a <= tile - overlap for a, b in itertools.pairwise(starts))  # neighbours share ≥ overlap


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
