"""Every detector family decoder pinned by a tiny ONNX graph whose correct original-pixel boxes are known.

The test image is 128×64 (w×h) and the model input 64×64 unless said otherwise, so the letterbox scale is 0.5:
centred families (ultralytics, yolov5, yolov3-zoo) pad 16 rows above and below, YOLOX pads at the bottom only.
Each graph holds the same scene: A (class 0, 0.9), B (class 0, 0.8, IoU 0.88–0.9 with A: suppressed),
C (class 1, 0.7, A's box: kept by class-wise NMS), D (class 2, 0.2: under conf 0.25), E (class 2, 0.6),
F (class 1, 0.5, crossing the image's bottom-right corner: clipped).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tiny_onnx import constant_model, yolov3_zoo_model
from visioncast.errors import ModelError
from visioncast.models import load_model
from visioncast.tasks import Detector, TaskOptions

IMAGE = np.full((64, 128, 3), 90, np.uint8)
TOL = 1e-3
# Expected original-pixel results for A, C, E, F in score order (B suppressed, D under conf).
CENTRED_EXPECTED = {
    "xyxy": [[44, 22, 84, 42], [44, 22, 84, 42], [88, 0, 112, 16], [108, 52, 128, 64]],
    "score": [0.9, 0.7, 0.6, 0.5],
    "class_id": [0, 1, 2, 1],
}
YOLOX_EXPECTED = {
    "xyxy": [[56, 32, 88, 48], [56, 32, 88, 48], [16, 16, 32, 32], [116, 52, 128, 64]],
    "score": [0.9, 0.7, 0.6, 0.5],
    "class_id": [0, 1, 2, 1],
}
# (cx, cy, w, h) in model-input pixels and class scores for the centred families.
CENTRED_ROWS = [
    ((32, 32, 20, 10), (0.9, 0, 0)),  # A → input xyxy (22, 27, 42, 37)
    ((33, 32, 20, 10), (0.8, 0, 0)),  # B: IoU 190/210 with A
    ((32, 32, 20, 10), (0, 0.7, 0)),  # C
    ((10, 40, 8, 8), (0, 0, 0.2)),  # D
    ((50, 20, 12, 8), (0, 0, 0.6)),  # E → input (44, 16, 56, 24)
    ((60, 46, 12, 8), (0, 0.5, 0)),  # F → input (54, 42, 66, 50), past the image's corner
]


def ultralytics_output(rows=CENTRED_ROWS, n: int = 8) -> np.ndarray:
    out = np.zeros((1, 4 + 3, n), np.float32)
    for col, (box, cls) in enumerate(rows):
        out[0, :, col] = [*box, *cls]
    return out


def yolov5_output(n: int = 252) -> np.ndarray:
    """[1, N, 5+nc]; the class scores are split into objectness × class (score = obj·cls)."""
    out = np.zeros((1, n, 8), np.float32)
    splits = [(1.0, 0.9), (0.8, 1.0), (0.875, 0.8), (0.5, 0.4), (0.6, 1.0), (1.0, 0.5)]
    for row, ((box, cls), (obj, c)) in enumerate(zip(CENTRED_ROWS, splits, strict=True)):
        out[0, row, :4] = box
        out[0, row, 4] = obj
        out[0, row, 5 + int(np.argmax(cls))] = c
    out[0, 6, :] = [20, 20, 8, 8, 0.1, 1.0, 0, 0]  # strong class, weak objectness: 0.1 < conf
    return out


def yolox_row(cxcywh: tuple[float, ...], cell: tuple[int, int], stride: int) -> list[float]:
    """Raw YOLOX regression for a box (cx, cy, w, h) predicted by grid cell (gx, gy) of ``stride``."""
    (cx, cy, w, h), (gx, gy) = cxcywh, cell
    return [cx / stride - gx, cy / stride - gy, math.log(w / stride), math.log(h / stride)]


def yolox_output() -> np.ndarray:
    """[1, 84, 8] for a 64×64 input: rows 0–63 stride 8 (8×8), 64–79 stride 16 (4×4), 80–83 stride 32."""
    out = np.zeros((1, 84, 8), np.float32)
    rows = {
        20: (yolox_row((36, 20, 16, 8), (4, 2), 8), 0.9, (1.0, 0, 0)),  # A: input (28, 16, 44, 24)
        21: (yolox_row((37, 20, 16, 8), (5, 2), 8), 1.0, (0.8, 0, 0)),  # B: IoU 120/136 with A
        70: (yolox_row((36, 20, 16, 8), (2, 1), 16), 0.7, (0, 1.0, 0)),  # C: A's box from the stride-16 grid
        81: (yolox_row((48, 8, 16, 8), (1, 0), 32), 0.5, (0, 0, 0.4)),  # D: 0.2
        9: (yolox_row((12, 12, 8, 8), (1, 1), 8), 0.6, (0, 0, 1.0)),  # E: input (8, 8, 16, 16)
        31: (yolox_row((62, 30, 8, 8), (7, 3), 8), 1.0, (0, 0.5, 0)),  # F: input (58, 26, 66, 34)
        40: ([0, 0, 0, 0], 0.1, (1.0, 0, 0)),  # strong class, weak objectness
    }
    for row, (reg, obj, cls) in rows.items():
        out[0, row] = [*reg, obj, *cls]
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("decoders")
    zoo_boxes = [[0.25, 0.25, 0.75, 0.5], [0, 0.5, 0.5, 1.0], [0.5, 0, 1.2, 0.25], [0, 0, 0.1, 0.1]]
    zoo_scores = np.zeros((3, 4), np.float32)
    zoo_scores[0, 0], zoo_scores[1, 0], zoo_scores[1, 1], zoo_scores[2, 2] = 0.9, 0.8, 0.6, 0.2
    zoo_indices = [[0, 0, 0], [0, 1, 1], [0, 2, 2], [0, 1, 0], [-1, -1, -1]]
    return {
        "yolox": constant_model(d / "yolox.onnx", {"output": yolox_output()}),
        "ultralytics": constant_model(d / "ultra.onnx", {"output0": ultralytics_output()}),
        "yolov5": constant_model(d / "yolov5.onnx", {"output": yolov5_output()}),
        "yolov3-zoo": yolov3_zoo_model(d / "zoo.onnx", zoo_boxes, zoo_scores, zoo_indices),
    }


def detect(path, options: TaskOptions | None = None, **kwargs) -> tuple[Detector, object]:
    detector = load_model(path, task="detect", **kwargs)
    assert isinstance(detector, Detector)
    return detector, detector(IMAGE, options or TaskOptions(conf=0.25, iou=0.45)).detections


def assert_detections(dets, expected, picks=None) -> None:
    picks = range(len(expected["score"])) if picks is None else picks
    np.testing.assert_allclose(dets.xyxy, np.asarray(expected["xyxy"], np.float32)[list(picks)], atol=TOL)
    np.testing.assert_allclose(dets.score, np.asarray(expected["score"])[list(picks)], atol=TOL)
    assert dets.class_id.tolist() == [expected["class_id"][i] for i in picks]


@pytest.mark.parametrize(("family", "expected"), [
    ("yolox", YOLOX_EXPECTED),
    ("ultralytics", CENTRED_EXPECTED),
    ("yolov5", CENTRED_EXPECTED),
])
def test_decoder_gives_exact_original_pixel_boxes(models, family, expected):
    detector, dets = detect(models[family])
    assert detector.family == family
    assert_detections(dets, expected)
    assert dets.labels == ("person", "bicycle", "car", "bicycle")


@pytest.mark.parametrize("family", ["yolox", "ultralytics", "yolov5"])
@pytest.mark.parametrize(("options", "picks"), [
    (TaskOptions(conf=0.25, iou=0.45, classes=(1,)), [1, 3]),
    (TaskOptions(conf=0.25, iou=0.45, classes=(2, 0)), [0, 2]),
    (TaskOptions(conf=0.25, iou=0.45, max_det=2), [0, 1]),
    (TaskOptions(conf=0.65, iou=0.45), [0, 1]),
], ids=["class-1", "classes-2-0", "max-det-2", "conf-0.65"])
def test_decoder_filters(models, family, options, picks):
    expected = YOLOX_EXPECTED if family == "yolox" else CENTRED_EXPECTED
    assert_detections(detect(models[family], options)[1], expected, picks)


@pytest.mark.parametrize("family", ["yolox", "ultralytics", "yolov5"])
def test_low_conf_keeps_d_and_loose_iou_keeps_b(models, family):
    _, low = detect(models[family], TaskOptions(conf=0.15, iou=0.45))
    np.testing.assert_allclose(sorted(low.score), [0.2, 0.5, 0.6, 0.7, 0.9], atol=TOL)
    _, loose = detect(models[family], TaskOptions(conf=0.25, iou=0.95))
    np.testing.assert_allclose(sorted(loose.score), [0.5, 0.6, 0.7, 0.8, 0.9], atol=TOL)


# (box, score, class): box 0 as class 0 and 1, box 1 as class 1, box 2 (clipped at the bottom) as class 2.
ZOO_A, ZOO_A1 = ([32, 16, 64, 48], 0.9, 0), ([32, 16, 64, 48], 0.8, 1)
ZOO_B, ZOO_C = ([64, 0, 128, 32], 0.6, 1), ([0, 32, 32, 64], 0.2, 2)


@pytest.mark.parametrize(("options", "expected"), [
    (TaskOptions(conf=0.25), [ZOO_A, ZOO_A1, ZOO_B]),
    (TaskOptions(conf=0.1), [ZOO_A, ZOO_A1, ZOO_B, ZOO_C]),
    (TaskOptions(conf=0.25, classes=(1,)), [ZOO_A1, ZOO_B]),
    (TaskOptions(conf=0.25, max_det=1), [ZOO_A]),
], ids=["conf-0.25", "conf-0.1-clipped", "class-1", "max-det-1"])
def test_yolov3_zoo_decoder_reads_indices_and_feeds_image_shape(models, options, expected):
    """Boxes are image_shape (h, w) × fractions inside the graph, so a swapped h/w would move every box."""
    detector, dets = detect(models["yolov3-zoo"], options)
    assert detector.family == "yolov3-zoo"
    np.testing.assert_allclose(dets.xyxy, [e[0] for e in expected], atol=TOL)
    np.testing.assert_allclose(dets.score, [e[1] for e in expected], atol=TOL)
    assert dets.class_id.tolist() == [e[2] for e in expected]


def test_ultralytics_metadata_gives_names_and_imgsz(tmp_path):
    """Dynamic input: size from metadata imgsz [h=64, w=96] → scale 0.75, 8 rows of padding above."""
    rows = [((48, 32, 24, 12), (0, 0.9, 0))]  # input (36, 26, 60, 38) → original (48, 24, 80, 40)
    meta = {"author": "Ultralytics", "names": "{0: 'cat', 1: 'dog', 2: 'bird'}", "imgsz": "[64, 96]",
            "stride": "32"}
    path = constant_model(tmp_path / "meta.onnx", {"output0": ultralytics_output(rows, n=4)},
                          input_shape=(1, 3, "height", "width"), metadata=meta)
    detector, dets = detect(path)
    assert detector.family == "ultralytics"
    assert detector.decoder.input_size == (96, 64)
    assert detector.labels == ("cat", "dog", "bird")
    np.testing.assert_allclose(dets.xyxy, [[48, 24, 80, 40]], atol=TOL)
    assert dets.labels == ("dog",)


# family → (pad value, RGB order, pixel scale, first and last+1 image rows in the 64×64 input)
LAYOUTS = {
    "yolox": (114, False, 1.0, (0, 32)),
    "ultralytics": (114, True, 1 / 255, (16, 48)),
    "yolov5": (114, True, 1 / 255, (16, 48)),
    "yolov3-zoo": (128, True, 1 / 255, (16, 48)),
}


@pytest.mark.parametrize("family", LAYOUTS)
def test_prepare_layout_colour_order_scale_and_padding(models, family):
    fill, rgb, scale, rows = LAYOUTS[family]
    blue = np.zeros((64, 128, 3), np.uint8)
    blue[:, :, 0] = 255
    detector = load_model(models[family], task="detect")
    name = detector.runtime.inputs[0].name
    assert detector.decoder.folded  # the runtime converts: the decoder feeds the letterboxed uint8 image
    canvas, folded_box = detector.decoder.prepare(blue)
    detector.decoder.folded = False  # what the graph's prefix receives converted (tests/unit/runtimes)
    feeds, box = detector.decoder.prepare(blue)
    assert folded_box == box
    np.testing.assert_array_equal(canvas[name][0].transpose(2, 0, 1)[::-1 if rgb else 1] * np.float32(scale),
                                  feeds[name][0])
    x = feeds[name]
    assert x.shape == (1, 3, 64, 64)
    assert x.dtype == np.float32
    blue_channel = 2 if rgb else 0
    top, bottom = rows
    np.testing.assert_allclose(x[0, blue_channel, top:bottom], 255 * scale, rtol=1e-6)
    np.testing.assert_allclose(x[0, 2 - blue_channel, top:bottom], 0)
    pad = np.concatenate([x[0, :, :top], x[0, :, bottom:]], axis=1)
    np.testing.assert_allclose(pad, fill * scale, rtol=1e-6)
    assert (box.scale, box.pad_x, box.pad_y) == (0.5, 0.0, float(top))
    if family == "yolov3-zoo":
        np.testing.assert_array_equal(feeds["image_shape"], [[64, 128]])


def test_unknown_layout_error_names_what_was_found(tmp_path):
    path = constant_model(tmp_path / "odd.onnx", {"out": np.zeros((1, 10, 8), np.float32)})
    with pytest.raises(ModelError, match="cannot tell the detector family") as info:
        load_model(path, task="detect")
    message = str(info.value)
    assert "images[1, 3, 64, 64]" in message
    assert "out[1, 10, 8]" in message
    assert "--family" in message


def test_family_override_decodes_an_unrecognised_layout(tmp_path):
    """A [1, 10, 8] output matches no rule, but --family yolov5 reads it as cx, cy, w, h, obj, classes."""
    out = np.zeros((1, 10, 8), np.float32)
    out[0, 0] = [32, 32, 20, 10, 1.0, 0, 0.75, 0]
    path = constant_model(tmp_path / "odd.onnx", {"out": out})
    detector, dets = detect(path, family="yolov5")
    assert detector.family == "yolov5"
    np.testing.assert_allclose(dets.xyxy, [[44, 22, 84, 42]], atol=TOL)
    np.testing.assert_allclose(dets.score, [0.75], atol=TOL)


def test_family_override_beats_detection(models):
    """The yolov5 graph read as ultralytics: a different (wrong) layout, but the caller's choice is obeyed."""
    detector = load_model(models["yolov5"], task="detect", family="ultralytics")
    assert detector.family == "ultralytics"


def test_unknown_family_name_is_refused(models):
    with pytest.raises(ModelError, match=r"family must be one of yolox, .*yolov3-zoo, got 'ssd'"):
        load_model(models["yolox"], task="detect", family="ssd")
