"""The tasks of several model calls (a photo's face passes, people then their keypoints) answer the same on
the pipeline's way — the staged runtime's async queue, several images in flight — as on run_stages' way."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from visioncast.errors import ModelError
from visioncast.models import load_model
from visioncast.tasks.staged import StagedRuntime

IMAGES = ("small_faces.jpg", "zidane.jpg", "bus.jpg", "squat.jpg")


@pytest.mark.parametrize(("model", "found"), [("yunet", [29, 2, 2, 1]), ("people-pose", [6, 2, 3, 1])])
def test_the_async_queue_answers_what_run_answers(data_dir, model, found):
    task = load_model(model)
    assert isinstance(task.runtime, StagedRuntime)
    prepared = [task.prepare(cv2.imread(str(data_dir / name))) for name in IMAGES]
    got: dict[int, list[np.ndarray]] = {}
    with task.runtime.open_async(2, lambda outputs, i: got.__setitem__(i, outputs)) as jobs:
        for i, p in enumerate(prepared):
            jobs.submit(p.feeds, i)
    assert jobs.failed == 0
    for i, p in enumerate(prepared):
        expected = task.runtime.run(p.feeds)
        assert [a.shape for a in got[i]] == [b.shape for b in expected]
        for a, b in zip(got[i], expected, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-4)
    assert [len(task.postprocess(got[i], p).detections) for i, p in enumerate(prepared)] == found


def test_a_failing_second_stage_counts_as_the_jobs_failure(data_dir):
    yunet = load_model("yunet")
    staged = StagedRuntime(yunet.model_runtime, lambda feeds, outputs: [outputs[99]])  # an IndexError
    image = cv2.imread(str(data_dir / "faces.jpg"))
    jobs = staged.open_async(1, lambda outputs, userdata: None)
    with pytest.raises(ModelError, match=r"1 onnxruntime async job\(s\) failed; first: .*index"), jobs:
        jobs.submit(yunet.prepare(image).feeds, 0)
    assert jobs.failed == 1
