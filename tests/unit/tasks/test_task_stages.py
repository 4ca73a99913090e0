"""Detector and Classifier are Tasks: their three stages, run one by one (as the pipeline does), give what
calling the task gives; per-call options travel from prepare to postprocess. Real shipped models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from visioncast.core.payload import result_to_payload
from visioncast.errors import InputError
from visioncast.models import load_model
from visioncast.runtimes.base import Runtime
from visioncast.sources.image import read_image
from visioncast.tasks import Classifier, Detector
from visioncast.tasks.base import Task, TaskOptions


def same(a: object, b: object) -> bool:
    strip = [{k: v for k, v in result_to_payload(r).items() if k != "timings_ms"} for r in (a, b)]
    return strip[0] == strip[1]


@pytest.mark.parametrize(("name", "image"), [("yolox-nano", "bus.jpg"),
                                             ("resnet56-cifar10", "cifar10/cifar10_00_3.png")])
def test_stages_one_by_one_equal_the_call(name: str, image: str, data_dir: Path) -> None:
    task = load_model(name)
    assert isinstance(task, Task)
    assert isinstance(task.runtime, Runtime)  # open_async is part of the protocol
    picture = read_image(data_dir / image)
    prepared = task.prepare(picture)
    assert prepared.image_wh == (picture.shape[1], picture.shape[0])
    staged = task.postprocess(task.infer(prepared.feeds), prepared)
    called = task(picture)
    assert same(staged, called)
    assert set(called.timings_ms) == {"preprocess", "inference", "postprocess"}


def test_async_outputs_through_postprocess_equal_the_call(data_dir: Path) -> None:
    detector = load_model("yolox-nano")
    picture = read_image(data_dir / "bus.jpg")
    prepared = detector.prepare(picture)
    got: list[list[np.ndarray]] = []
    with detector.runtime.open_async(1, lambda outputs, _: got.append(outputs)) as jobs:
        jobs.submit(prepared.feeds)
    assert same(detector.postprocess(got[0], prepared), detector(picture))


def test_per_call_options_travel_in_prepared(data_dir: Path) -> None:
    detector = load_model("yolox-nano")
    assert isinstance(detector, Detector)
    picture = read_image(data_dir / "bus.jpg")
    strict = TaskOptions(conf=0.8)
    prepared = detector.prepare(picture, strict)
    assert prepared.options == TaskOptions(conf=0.8, iou=0.45, max_det=300)  # the rest: the detector's
    result = detector.postprocess(detector.infer(prepared.feeds), prepared)
    assert same(result, detector(picture, strict))
    assert len(result.detections) < len(detector(picture).detections)
    assert result.detections.score.min() >= 0.8


def test_classifier_top_k_per_call(data_dir: Path) -> None:
    classifier = load_model("resnet56-cifar10")
    assert isinstance(classifier, Classifier)
    picture = read_image(data_dir / "cifar10" / "cifar10_00_3.png")
    assert len(classifier(picture, TaskOptions(top=2)).classification.labels) == 2
    assert classifier(picture, TaskOptions(top=2)).classification.top_label == "cat"
    with pytest.raises(InputError, match="top must be at least 1, got 0"):
        classifier.prepare(picture, TaskOptions(top=0))


@pytest.mark.parametrize(("fields", "message"), [
    ({"conf": 1.5}, "conf must be between 0 and 1, got 1.5"),
    ({"iou": -0.1}, "iou must be between 0 and 1, got -0.1"),
    ({"conf": float("nan")}, "conf must be between 0 and 1, got nan"),
    ({"max_det": 0}, "max_det must be at least 1, got 0"),
])
def test_bad_options_are_input_errors(fields: dict[str, float], message: str) -> None:
    with pytest.raises(InputError, match=message):
        TaskOptions(**fields)  # type: ignore[arg-type]


def test_options_round_trip_through_a_job_file() -> None:
    options = TaskOptions(conf=0.4, classes=(0, 5), top=3)
    assert TaskOptions.from_dict(options.to_dict()) == options
    assert TaskOptions.from_dict({"conf": 0.3, "iou": 0.5, "max_det": 9, "other": 1}) == TaskOptions(
        conf=0.3, iou=0.5, max_det=9)  # an older job's file


def test_for_stream_gives_stateful_tasks_an_instance_per_stream(data_dir: Path) -> None:
    detector, movenet = load_model("yolox-nano"), load_model("movenet-lightning")
    assert detector.for_stream() is detector
    assert detector.for_stream("cam1") is detector
    first = movenet.for_stream("cam1")
    assert first is not movenet
    assert movenet.for_stream("cam1") is first
    assert movenet.for_stream("cam2") is not first
    assert movenet.for_stream() is not first
