"""The automatic engine choice's pieces: the agreement bounds and the candidates a file gets."""

from __future__ import annotations

import numpy as np

from visioncast.core.types import Detections, Result
from visioncast.models.choice import BOUNDS, Candidate, candidates, disagreement
from visioncast.models.registry import DATA


def detect(*boxes: tuple[float, float, float, float, float]) -> Result:
    xyxy = np.array([b[:4] for b in boxes], np.float32).reshape(-1, 4)
    score = np.array([b[4] for b in boxes], np.float32)
    return Result("detect", "m", 800, 600, detections=Detections(xyxy, np.zeros(len(boxes), np.int32), score,
                                                                   ("person",) * len(boxes)))


def test_boxes_within_the_bound_agree_and_beyond_it_do_not() -> None:
    ref = detect((100, 100, 500, 400, 0.9), (10, 10, 30, 30, 0.2))
    bf16 = BOUNDS["bf16"]  # max(4 px, 3 % of the longer side = 12 px), scores ±0.08
    assert disagreement(ref, detect((111, 100, 500, 400, 0.85)), bf16) == ""  # the 0.2 box is under min_score
    assert "box off by 13.0 px" in disagreement(ref, detect((113, 100, 500, 400, 0.9)), bf16)
    assert "score" in disagreement(ref, detect((100, 100, 500, 400, 0.8)), bf16)
    assert "no partner" in disagreement(ref, detect(), bf16)
    assert "no partner" in disagreement(detect(), ref, bf16)  # the other way round too
    assert disagreement(ref, detect((113, 100, 500, 400, 0.9)), BOUNDS["int8"]) == ""  # 6 %: 24 px


def test_candidates_put_the_reference_first_and_add_int8_runs_of_a_quantised_file(tmp_path) -> None:
    shipped = candidates(DATA / "yolox_nano_416_coco.onnx")
    assert shipped[0] == Candidate("onnxruntime")
    assert not any(c.int8 or c.dequantize for c in shipped)
    quantized = tmp_path / "q.onnx"
    quantized.write_bytes((DATA / "yolox_nano_416_coco.onnx").read_bytes() + b"ConvInteger")
    listed = candidates(quantized)
    assert listed[0] == Candidate("onnxruntime", "f32", dequantize=True)  # the file in f32: the reference
    assert Candidate("onnxruntime", "f32", False, True) in listed  # its int8 execution, a candidate
    assert Candidate("onnxruntime", "f32", False, True).label == "onnxruntime int8"
