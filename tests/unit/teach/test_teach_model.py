"""A taught model is one ONNX classifier: extractor + head, labels in its metadata, found by name."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from onnx import numpy_helper
from tests.teach_samples import DATA, class_samples, pose_samples

from visioncast.errors import InputError, ModelError
from visioncast.models import list_models, load_model
from visioncast.models.registry import people_detector
from visioncast.tasks.base import TaskOptions
from visioncast.tasks.people import PeopleClassifier, PeopleFinder, biggest_square
from visioncast.teach import FeatureExtractor, save_taught, teach
from visioncast.teach.graph import normalise_keypoints, with_head
from visioncast.teach.head import LinearHead


@pytest.fixture(scope="module")
def extractor(tmp_path_factory: pytest.TempPathFactory) -> FeatureExtractor:
    return FeatureExtractor(cache_dir=tmp_path_factory.mktemp("cache"), threads=1)


@pytest.fixture(scope="module")
def taught(extractor: FeatureExtractor):
    return teach(class_samples(12), extractor)


def test_held_out_report_counts_every_class(taught) -> None:
    _, report = taught
    assert report.labels == ("公交车", "球员", "足球", "街道")
    assert report.counts == (12, 12, 12, 12)
    assert report.held_out == (2, 2, 2, 2)
    assert report.evaluation.confusion.sum() == 8
    assert report.evaluation.accuracy is not None
    assert report.evaluation.accuracy >= 0.75


def test_saved_model_answers_as_the_head_on_the_extractor_features(taught, extractor, tmp_path: Path) -> None:
    model, _ = taught
    info = save_taught(model, "课堂-表情", cache_dir=tmp_path)
    assert info.origin == "taught"
    assert "课堂-表情" in [m.name for m in list_models(tmp_path)]
    clf = load_model("课堂-表情", cache_dir=tmp_path)
    assert clf.labels == ("公交车", "球员", "足球", "街道")
    image = class_samples(3, seed=99)["足球"][0]
    result = clf(image, TaskOptions(top=4))
    assert result.classification is not None
    assert result.classification.labels[0] == "足球"
    # the graph's Gemm + Softmax equal the numpy head on the extractor's own features
    gemm = next(i for i in model.graph.initializer if i.name == "vc_head_weight")
    weight = numpy_helper.to_array(gemm)
    bias = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == "vc_head_bias"))
    expected = LinearHead(weight, bias).probabilities(extractor.features(image)[None])[0]
    order = [clf.labels.index(label) for label in result.classification.labels]
    np.testing.assert_allclose(result.classification.score, expected[order], atol=1e-5)


def test_names_and_labels_are_checked(taught, extractor, tmp_path: Path) -> None:
    model, _ = taught
    with pytest.raises(InputError, match="shipped model"):
        save_taught(model, "yolox-nano", cache_dir=tmp_path)
    with pytest.raises(InputError, match="model name"):
        save_taught(model, "../evil", cache_dir=tmp_path)
    with pytest.raises(ModelError, match="2 classes but 3 labels"):
        with_head(extractor.graph, LinearHead(np.zeros((1280, 2), np.float32), np.zeros(2, np.float32)),
                  ["a", "b", "c"], {})
    samples = class_samples(6)
    with pytest.raises(InputError, match="class name"):
        teach({" ": samples["球员"], "b": samples["足球"]}, extractor)
    assert not list(tmp_path.glob("*.onnx"))



def test_held_out_accuracy_on_handwritten_digits(extractor: FeatureExtractor) -> None:
    """A public set: 20 UCI digits per class to learn from, the other 20 to test (measured 76 %)."""
    data = np.load(DATA / "digits_400.npz")
    images, y = data["images"], data["labels"].astype(np.int64)
    as_photo = [cv2.cvtColor(255 - a, cv2.COLOR_GRAY2BGR) for a in images]  # dark ink on white paper
    samples = {str(d): [as_photo[i] for i in np.flatnonzero(y == d)[:20]] for d in range(10)}
    model, _ = teach(samples, extractor, held_out=0.0)
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    head = LinearHead(init["vc_head_weight"], init["vc_head_bias"])
    test = [i for d in range(10) for i in np.flatnonzero(y == d)[20:]]
    features = np.stack([extractor.features(as_photo[i]) for i in test])
    accuracy = float((head.probabilities(features).argmax(axis=1) == y[test]).mean())
    assert accuracy >= 0.7


def test_pose_features_in_the_graph_equal_the_numpy_reference(tmp_path: Path) -> None:
    """The uint8 → MoveNet → normalisation graph answers what normalise_keypoints makes of MoveNet's own
    keypoints of the biggest person's square; moving and scaling the person does not change the position
    features much."""
    pose = FeatureExtractor("movenet-lightning", cache_dir=tmp_path, threads=1)
    movenet = load_model("movenet-lightning")
    image = cv2.imread(str(DATA / "squat.jpg"))
    people = PeopleFinder(people_detector()).find(image)
    assert len(people) == 1
    square = biggest_square(image, people, 192)
    assert square.shape == (192, 192, 3)
    feeds = pose._prepare.preprocess(square)
    keypoints = movenet.runtime.run({movenet.runtime.inputs[0].name: feeds.astype(np.int32)})[0]
    np.testing.assert_allclose(pose.features(image), normalise_keypoints(keypoints), atol=1e-5)
    assert pose.features(image).shape == (51,)
    smaller = cv2.copyMakeBorder(image, 0, 300, 0, 300, cv2.BORDER_CONSTANT)  # same person, smaller, moved
    assert np.abs(pose.features(smaller)[:34] - pose.features(image)[:34]).mean() < 0.15


def test_a_pose_model_tells_squatting_from_standing(tmp_path: Path) -> None:
    pose = FeatureExtractor("movenet-lightning", cache_dir=tmp_path, threads=1)
    model, report = teach(pose_samples(16), pose)  # 3 held out per class (2 were too few to say)
    assert report.evaluation.accuracy == 1.0
    save_taught(model, "姿势", cache_dir=tmp_path)
    clf = load_model("姿势", cache_dir=tmp_path)
    assert isinstance(clf, PeopleClassifier)  # a taught pose model answers for every person
    assert clf.classifier.spec.pad_square
    squat = cv2.imread(str(DATA / "squat.jpg"))
    result = clf(squat, TaskOptions(top=2))
    assert result.classification is not None
    assert result.classification.labels[0] == "蹲"
    assert result.counts() == {"蹲": 1}
    stand = cv2.imread(str(DATA / "zidane.jpg"))[:, 650:1250]  # the standing man, as in pose_samples
    stand = cv2.resize(stand, (round(600 * 610 / 720), 610))
    both = np.hstack([squat, stand])  # two people: one squats, one stands (the bigger box)
    two = clf(both, TaskOptions(top=2))
    assert two.counts() == {"蹲": 1, "站": 1}  # the per-label person count a board shows
    assert two.detections is not None
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in two.detections.xyxy]
    assert two.classification.labels[0] == two.detections.labels[int(np.argmax(areas))]  # the biggest
