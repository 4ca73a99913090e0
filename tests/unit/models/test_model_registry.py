"""The registry: names and paths, labels precedence (explicit → metadata → the model's set → built-in)."""

from __future__ import annotations

import numpy as np
import pytest

from tiny_onnx import classifier_model, constant_model
from visioncast.errors import ModelError, NotFoundError
from visioncast.models import find_model, list_models, load_model
from visioncast.models.labels import COCO80, parse_names, read_labels_file


def test_shipped_models_are_listed_with_licences():
    infos = {m.name: m for m in list_models()}
    assert infos["yolox-nano"].task == "detect"
    assert infos["yolox-nano"].licence == "Apache-2.0"
    assert infos["resnet56-cifar10"].licence == "BSD-2-Clause"
    assert (infos["movenet-lightning"].task, infos["movenet-lightning"].licence) == ("pose", "Apache-2.0")
    assert (infos["yunet"].task, infos["yunet"].licence) == ("face", "MIT")
    assert all(m.path.is_file() and m.size_bytes > 200_000 for m in infos.values())
    licences = {p.name for p in infos["yunet"].path.parent.glob("LICENSE-*")}
    assert {"LICENSE-movenet-lightning", "LICENSE-yunet"} <= licences


@pytest.mark.parametrize(("ref", "error", "message"), [
    ("yolo-nano", NotFoundError, "unknown model 'yolo-nano': expected one of yolox-nano, resnet56-cifar10"),
    ("/nowhere/model.onnx", NotFoundError, "model file not found: '/nowhere/model.onnx'"),
])
def test_unknown_models_are_named(ref, error, message):
    with pytest.raises(error, match=message):
        find_model(ref)


def test_a_file_that_is_not_onnx(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match=r"cannot load '.*bad\.onnx' with onnxruntime"):
        load_model(bad)


def test_task_is_guessed_from_the_outputs(tmp_path):
    classifier = load_model(classifier_model(tmp_path / "c.onnx", [1, 2]))
    detector = load_model(constant_model(tmp_path / "d.onnx", {"output": np.zeros((1, 84, 8), np.float32)}))
    assert classifier.task == "classify"
    assert detector.task == "detect"
    assert detector.labels == COCO80


def test_metadata_names_beat_the_built_in_set_and_a_file_beats_both(tmp_path):
    path = constant_model(tmp_path / "d.onnx", {"output": np.zeros((1, 6, 8), np.float32)},
                          metadata={"names": "{0: 'cat', 1: 'dog'}"})  # 4 box values + 2 classes
    assert load_model(path).labels == ("cat", "dog")
    labels = tmp_path / "labels.json"
    labels.write_text('["猫", "狗"]', encoding="utf-8")
    assert load_model(path, labels=labels).labels == ("猫", "狗")


@pytest.mark.parametrize(("labels", "message"), [
    ("cifar10", "built-in labels 'cifar10' has 10 labels but model 'yolox-nano' has 80 classes"),
    ("ten.txt", "labels file '.*ten.txt' has 10 labels but model 'yolox-nano' has 80 classes"),
])
def test_labels_must_match_the_detectors_class_count(tmp_path, labels, message):
    """A 10-label file would otherwise relabel the 80-class detector (bus → the 6th label)."""
    (tmp_path / "ten.txt").write_text("\n".join(f"类{i}" for i in range(10)), encoding="utf-8")
    choice = labels if labels == "cifar10" else tmp_path / labels
    with pytest.raises(ModelError, match=message):
        load_model("yolox-nano", labels=choice)


@pytest.mark.parametrize(("text", "expected"), [
    ("['a', 'b']", ("a", "b")),
    ('["a", "b"]', ("a", "b")),
    ("{0: 'a', 2: 'c'}", ("a", "class1", "c")),
])
def test_parse_names(text, expected):
    assert parse_names(text) == expected


@pytest.mark.parametrize(("content", "message"), [
    (b"", "holds no labels"),
    (b"\xff\xfe\x00bad", "must be UTF-8 text"),
])
def test_bad_labels_files(tmp_path, content, message):
    path = tmp_path / "labels.txt"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        read_labels_file(path)
