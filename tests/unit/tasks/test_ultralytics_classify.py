"""Ultralytics classification exports on tiny generated graphs: recognised from metadata, Chinese names and
imgsz from it, Ultralytics' resize-shorter-side + centre-crop preprocessing, labels files beside the model.
(bench/check_ultralytics_classify.py compares the probabilities with Ultralytics' own predict.)"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tiny_onnx import constant_model
from visioncast.errors import ModelError
from visioncast.models import load_model
from visioncast.tasks.base import TaskOptions
from visioncast.tasks.classify import Classifier
from visioncast.tasks.ultralytics_classify import UltralyticsClassifier, resize_shorter_center_crop

META = {"author": "Ultralytics", "description": "Ultralytics YOLOv8n-cls model trained on mind+", "task":
        "classify", "names": "{0: '石头', 1: '剪刀', 2: '布'}", "imgsz": "[48, 48]", "stride": "1"}
PROBS = np.array([[0.1, 0.7, 0.2]], np.float32)


def export(tmp_path, name="best.onnx", metadata=META, shape=(1, 3, 48, 48)):
    return constant_model(tmp_path / name, {"output0": PROBS}, input_shape=shape, metadata=metadata)


def test_recognised_with_chinese_names_and_imgsz_from_metadata(tmp_path):
    model = load_model(export(tmp_path, shape=(1, 3, "height", "width")))
    assert isinstance(model, UltralyticsClassifier)
    assert model.labels == ("石头", "剪刀", "布")
    assert model.spec.size_wh == (48, 48)
    result = model(np.zeros((30, 90, 3), np.uint8), TaskOptions(top=3))
    assert result.classification.labels == ("剪刀", "布", "石头")
    # the export ends in a softmax: the outputs are the probabilities
    np.testing.assert_allclose(result.classification.score, [0.7, 0.2, 0.1], atol=1e-6)


def test_preprocessing_is_shorter_side_then_centre_crop_rgb_over_255(tmp_path):
    image = np.zeros((64, 96, 3), np.uint8)  # BGR, 96 wide × 64 high
    image[:, :16] = (0, 0, 255)  # a red band on the left: cut away by the centre crop
    image[:, 16:80] = (255, 0, 0)  # blue in the middle
    model = load_model(export(tmp_path))
    x = model.preprocess(image)
    assert x.shape == (1, 3, 48, 48)
    assert x.dtype == np.float32
    # Shorter side 64 → 48 makes it 72×48; the crop keeps columns 12–60 of 72 = original 16–80: blue.
    np.testing.assert_allclose(x[0, 0, :, 1:-1], 0, atol=1e-6)  # R
    np.testing.assert_allclose(x[0, 2, :, 1:-1], 1, atol=1e-6)  # B, /255
    # PIL's bilinear shrink widens its filter (antialiasing): a little of the red band reaches the first
    # column, where a plain bilinear resize (cv2.INTER_LINEAR) would sample pure blue.
    assert 0.02 < x[0, 0, 0, 0] < 0.2


def test_crop_matches_a_pil_reference_for_odd_sizes():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (101, 57, 3), np.uint8)  # portrait, odd sizes
    got = resize_shorter_center_crop(image, (32, 32))
    rgb = Image.fromarray(image[:, :, ::-1].copy())
    pil = rgb.resize((32, int(32 * 101 / 57)), Image.Resampling.BILINEAR)
    top = round((pil.height - 32) / 2)
    np.testing.assert_array_equal(got, np.asarray(pil)[top : top + 32])


def test_other_classifiers_keep_their_stretch_preprocessing(tmp_path):
    plain = constant_model(tmp_path / "plain.onnx", {"logits": PROBS}, input_shape=(1, 3, 48, 48))
    model = load_model(plain)
    assert type(model) is Classifier


@pytest.mark.parametrize(("file", "text", "labels"), [
    ("best.yaml", "names:\n  0: 猫\n  1: 狗\n  2: 鸟\n", ("猫", "狗", "鸟")),
    ("data.yaml", "path: x\nnames: [苹果, 香蕉, 橙子]\nnc: 3\n", ("苹果", "香蕉", "橙子")),
    ("best.txt", "红灯\n绿灯\n黄灯\n", ("红灯", "绿灯", "黄灯")),
])
def test_labels_file_beside_the_export_is_picked_up(tmp_path, file, text, labels):
    meta = {k: v for k, v in META.items() if k != "names"}
    path = export(tmp_path, metadata=meta)
    (tmp_path / "args.yaml").write_text("epochs: 10\nimgsz: 48\n", encoding="utf-8")  # not a names file
    (tmp_path / file).write_text(text, encoding="utf-8")
    assert load_model(path).labels == labels


def test_a_labels_file_beside_wins_over_metadata_and_a_bad_one_is_named(tmp_path):
    path = export(tmp_path)
    (tmp_path / "best.yaml").write_text("names: {0: 一, 1: 二, 2: 三}\n", encoding="utf-8")
    assert load_model(path).labels == ("一", "二", "三")
    (tmp_path / "best.yaml").write_text("names: 7\n", encoding="utf-8")
    with pytest.raises(ModelError, match=r"best\.yaml' must have 'names'"):
        load_model(path)
