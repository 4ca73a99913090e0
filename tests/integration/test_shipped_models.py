"""The shipped models on real media give the reference answers of the model README."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from visioncast.sources.image import read_image

BUS_REFERENCE = [13, 231, 801, 735]


def test_yolox_nano_finds_bus_and_people(detector, data_dir):
    result = detector(read_image(data_dir / "bus.jpg"))
    dets = result.detections
    buses = [i for i, label in enumerate(dets.labels) if label == "bus"]
    persons = [i for i, label in enumerate(dets.labels) if label == "person" and dets.score[i] >= 0.6]
    assert len(buses) == 1
    assert dets.score[buses[0]] >= 0.85
    assert np.abs(dets.xyxy[buses[0]] - BUS_REFERENCE).max() <= 3
    assert len(persons) >= 3


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "data" / "cifar10").glob("*.png")),
                         ids=lambda p: p.name)
def test_resnet56_classifies_cifar10_sample(classifier, path):
    expected = int(path.stem.rsplit("_", 1)[1])
    result = classifier(read_image(path))
    assert int(result.classification.class_id[0]) == expected
