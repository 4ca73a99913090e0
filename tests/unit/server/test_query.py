"""The shown filter of the inference routes: what a page shows of an answer, so what is published."""

from __future__ import annotations

import numpy as np
import pytest

from visioncast.core.types import Classification, Detections, Result
from visioncast.errors import InputError
from visioncast.server.query import ShownFilter, shown_filter

LABELS = ("person", "bus", "car")


def detected() -> Result:
    dets = Detections(np.array([[0, 0, 10, 10]] * 4, np.float32), [0, 1, 0, 2],
                      np.array([0.9, 0.8, 0.3, 0.6], np.float32), ("person", "bus", "person", "car"))
    return Result("detect", "m", 100, 100, detections=dets)


def test_conf_and_hidden_classes_filter_detections() -> None:
    shown = shown_filter({"shown_conf": "0.5", "shown_hide": "car"}, LABELS, "m").apply(detected())
    assert shown.detections is not None
    assert shown.detections.labels == ("person", "bus")
    assert shown.counts() == {"person": 1, "bus": 1}


def test_no_filter_keeps_the_result_itself() -> None:
    result = detected()
    assert shown_filter({}, LABELS, "m").apply(result) is result


def test_top_keeps_the_best_classes() -> None:
    cls = Classification([2, 0, 1], np.array([0.6, 0.3, 0.1], np.float32), ("car", "person", "bus"))
    result = Result("classify", "m", 10, 10, classification=cls)
    shown = ShownFilter(top=2).apply(result)
    assert shown.classification is not None
    assert shown.classification.labels == ("car", "person")


@pytest.mark.parametrize(("query", "name"), [({"shown_conf": "2"}, "shown_conf"),
                                             ({"shown_hide": "unicorn"}, "shown_hide"),
                                             ({"shown_top": "0"}, "shown_top")])
def test_bad_values_name_the_parameter(query: dict[str, str], name: str) -> None:
    with pytest.raises(InputError, match=name):
        shown_filter(query, LABELS, "m")
