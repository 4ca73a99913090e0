"""Check an Ultralytics YOLOv8n export end to end, given only its path (outside the committed test suite).

The reference file (../shared/models/yolov8n_int8dyn_640_coco.onnx) is AGPL-3.0: it is read in place and never
copied into this repository. With no option beyond the path, visioncast must recognise the family as
``ultralytics``, take the 80 COCO names from the model's metadata, and find on bus.jpg the persons
0.90 / 0.90 / 0.89 and the bus 0.82 (±0.01) that the model's README records. Prints one PASS/FAIL line per
check and engine; exits 1 when any check fails.

``--engine auto`` (the choice models/choice.py measures once per machine into the model cache; it may run the
file's convolutions on their float weights, in bf16) is held to the int8 agreement bound instead of ±0.01:
its boxes and scores against the file run as it is on onnxruntime, and against ultralytics' own predict on
the same file when ultralytics is importable (benchmark-only venv).

    python bench/check_yolov8n.py [MODEL.onnx] [IMAGE] [--engine onnxruntime openvino auto] [--precision f32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from visioncast.config import default_cache_dir
from visioncast.core.payload import result_to_payload
from visioncast.core.types import Detections, Result
from visioncast.models import load_model
from visioncast.models.choice import BOUNDS, cached_choice, disagreement
from visioncast.sources.image import read_image

SHARED = next((p for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared"))
               if p.is_dir()),
              Path("/work/shared"))
EXPECTED_PERSONS = (0.90, 0.90, 0.89)
EXPECTED_BUS = 0.82
TOLERANCE = 0.01


def verdict(ok: bool, engine: str, what: str, got: object) -> bool:
    print(f"{'PASS' if ok else 'FAIL'} [{engine}] {what}: {got}")
    return ok


def close_to(values: list[float], expected: tuple[float, ...], tolerance: float = TOLERANCE) -> bool:
    return len(values) >= len(expected) and all(
        abs(v - e) <= tolerance for v, e in zip(values, expected, strict=False))


def ultralytics_result(model: Path, image: Path, like: Result) -> Result | None:
    """ultralytics' own predict on the same file and image (None without ultralytics)."""
    try:
        from ultralytics import YOLO  # noqa: PLC0415 — benchmark-only environment
    except ImportError:
        return None
    found = YOLO(str(model), task="detect").predict(str(image), imgsz=640, device="cpu", verbose=False)
    boxes = found[0].boxes
    cls = boxes.cls.numpy().astype(np.int32)
    labels = load_model(model).labels  # type: ignore[union-attr]
    names = tuple(labels[c] for c in cls)
    dets = Detections(boxes.xyxy.numpy(), cls, boxes.conf.numpy(), names)
    return Result("detect", "ultralytics", like.width, like.height, detections=dets)


def check_auto(model: Path, image: Path, result: Result) -> list[bool]:
    """The automatic choice against the file as it is, and against ultralytics, within the int8 bound."""
    choice = cached_choice(model, default_cache_dir())
    print(f"     [auto] chose {choice.describe() if choice else '?'}")
    bound = BOUNDS["int8"]
    as_is = load_model(model)(read_image(image))
    problem = disagreement(as_is, result, bound)
    checks = [verdict(not problem, "auto", f"boxes within the int8 bound of onnxruntime on the file "
                      f"(max({bound.px:.0f} px, {100 * bound.frac:.0f} %), ±{bound.score})",
                      problem or "agree")]
    peer = ultralytics_result(model, image, result)
    if peer is not None:
        problem = disagreement(peer, result, bound)
        checks.append(verdict(not problem, "auto", "boxes within the int8 bound of ultralytics' predict",
                              problem or "agree"))
    return checks


def check(model: Path, image: Path, engine: str, precision: str) -> bool:
    detector = load_model(model, engine=engine, precision=precision, cache_dir=default_cache_dir())
    result = detector(read_image(image))
    dets = result.detections
    persons = sorted((float(s) for s, lb in zip(dets.score, dets.labels, strict=True) if lb == "person"),
                     reverse=True)
    buses = sorted((float(s) for s, lb in zip(dets.score, dets.labels, strict=True) if lb == "bus"),
                   reverse=True)
    tolerance = BOUNDS["int8"].score if engine == "auto" else TOLERANCE
    checks = [
        verdict(detector.task == "detect", engine, "task recognised as detect", detector.task),
        verdict(detector.family == "ultralytics", engine, "family recognised", detector.family),
        verdict(detector.labels[:1] == ("person",) and len(detector.labels) == 80, engine,
                "80 labels from the model metadata",
                f"{len(detector.labels)} labels, first {detector.labels[:1]}"),
        verdict(close_to(persons[:3], EXPECTED_PERSONS, tolerance), engine,
                f"top persons {'/'.join(f'{v:.2f}' for v in EXPECTED_PERSONS)} ±{tolerance}",
                "/".join(f"{v:.3f}" for v in persons[:3]) or "none"),
        verdict(close_to(buses[:1], (EXPECTED_BUS,), tolerance), engine,
                f"bus {EXPECTED_BUS:.2f} ±{tolerance}",
                "/".join(f"{v:.3f}" for v in buses) or "none"),
    ]
    if engine == "auto":
        checks += check_auto(model, image, result)
    payload = result_to_payload(result)
    boxes = ", ".join(f"{d['label']} {d['score']:.2f} {d['box']}" for d in payload["detections"])
    print(f"     [{engine}] {len(dets)} detections: {boxes}")
    return all(checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_model = SHARED / "models" / "yolov8n_int8dyn_640_coco.onnx"
    parser.add_argument("model", nargs="?", type=Path, default=default_model)
    parser.add_argument("image", nargs="?", type=Path, default=SHARED / "media" / "bus.jpg")
    parser.add_argument("--engine", nargs="+", default=["onnxruntime", "openvino"])
    parser.add_argument("--precision", default="f32")
    args = parser.parse_args()
    print(f"model {args.model}; image {args.image}; precision {args.precision}")
    ok = [check(args.model, args.image, engine, args.precision) for engine in args.engine]
    print("PASS all checks" if all(ok) else "FAIL some checks")
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
