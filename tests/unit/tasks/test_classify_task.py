"""The classification task: preprocessing from the model's spec, probabilities, top-k, labels."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tiny_onnx import classifier_model, constant_model
from visioncast.errors import InputError, ModelError
from visioncast.models import load_model
from visioncast.tasks import Classifier, ClassifySpec
from visioncast.tasks.base import TaskOptions
from visioncast.tasks.classify import IMAGENET_MEAN, IMAGENET_STD, to_probabilities


def test_softmax_top_k_and_default_labels(tmp_path):
    logits = [0.5, 3.0, 0.1, -1.0, 0.0]
    model = load_model(classifier_model(tmp_path / "c.onnx", logits), task="classify")
    assert isinstance(model, Classifier)
    result = model(np.zeros((20, 30, 3), np.uint8), TaskOptions(top=3))
    cls = result.classification
    probs = np.exp(logits) / np.exp(logits).sum()
    assert cls.class_id.tolist() == [1, 0, 2]
    np.testing.assert_allclose(cls.score, probs[[1, 0, 2]], rtol=1e-5)
    assert cls.labels == ("automobile", "airplane", "bird")  # CIFAR-10 names by default
    assert (result.width, result.height) == (30, 20)
    assert model(np.zeros((8, 8, 3), np.uint8), TaskOptions(top=50)).classification.class_id.size == 5


def test_a_labels_file_names_every_class(tmp_path):
    labels = tmp_path / "three.txt"
    labels.write_text("\ufeff开心\n\n愤怒\n平静\n", encoding="utf-8")  # a BOM and a blank line are ignored
    model = load_model(classifier_model(tmp_path / "c.onnx", [0, 1, 2]), task="classify", labels=labels)
    assert model.labels == ("开心", "愤怒", "平静")
    result = model(np.zeros((8, 8, 3), np.uint8), TaskOptions(top=3))
    assert result.classification.labels == ("平静", "愤怒", "开心")
    labels.write_text("开心\n愤怒\n", encoding="utf-8")
    with pytest.raises(ModelError, match=r"labels file '.*three\.txt' has 2 labels but model 'c' has 3"):
        load_model(tmp_path / "c.onnx", task="classify", labels=labels)


def test_top_must_be_positive(classifier):
    with pytest.raises(InputError, match="top must be at least 1, got 0"):
        classifier(np.zeros((32, 32, 3), np.uint8), TaskOptions(top=0))


def test_preprocess_rgb_mean_std_nchw(classifier):
    """The shipped ResNet-56: RGB, x/255 then ImageNet mean/std, NCHW 32×32."""
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :, 2] = 255  # red in BGR
    x = classifier.preprocess(image)
    assert x.shape == (1, 3, 32, 32)
    assert x.dtype == np.float32
    expected = (np.array([1.0, 0.0, 0.0]) - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(x[0, :, 5, 5], expected, rtol=1e-5)


def test_uint8_nhwc_classifier(tmp_path):
    """Quantised MobileNet layout: uint8 NHWC input fed raw, uint8 scores read as value/255."""
    path = constant_model(tmp_path / "q.onnx", {"scores": np.array([[0, 200, 55]], np.uint8)},
                          input_name="input", input_shape=(1, 24, 16, 3), input_type=TensorProto.UINT8)
    labels = tmp_path / "labels.txt"
    labels.write_text("person\nbicycle\ncar\n", encoding="utf-8")
    model = load_model(path, task="classify", labels=labels)
    assert model.spec == ClassifySpec((16, 24), nhwc=True, dtype="uint8", mean=None, std=None)
    x = model.preprocess(np.full((48, 32, 3), 7, np.uint8))
    assert (x.shape, x.dtype, int(x.max())) == ((1, 24, 16, 3), np.uint8, 7)
    cls = model(np.zeros((48, 32, 3), np.uint8), TaskOptions(top=2)).classification
    assert cls.labels == ("bicycle", "car")
    np.testing.assert_allclose(cls.score, [200 / 255, 55 / 255], rtol=1e-6)


@pytest.mark.parametrize(("raw", "expected"), [
    (np.array([0.2, 0.8], np.float32), [0.2, 0.8]),  # already a distribution
    (np.array([0.0, 0.0], np.float32), [0.5, 0.5]),  # logits
])
def test_to_probabilities(raw, expected):
    np.testing.assert_allclose(to_probabilities(raw), expected, rtol=1e-6)


def test_a_detector_is_not_a_classifier():
    with pytest.raises(ModelError, match="model 'yolox-nano' is a detect model, not classify"):
        load_model("yolox-nano", task="classify")
