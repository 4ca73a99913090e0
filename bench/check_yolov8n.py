"""Check an Ultralytics YOLOv8n export end to end, given only its path (outside the committed test suite).

The reference file (../shared/models/yolov8n_int8dyn_640_coco.onnx) is AGPL-3.0: it is read in place and never
copied into this repository. With no option beyond the path, visioncast must recognise the family as
``ultralytics``, take the 80 COCO names from the model's metadata, and find on bus.jpg the persons
0.90 / 0.90 / 0.89 and the bus 0.82 (±0.01) that the model's README records. Prints one PASS/FAIL line per
check and engine; exits 1 when any check fails.

    python bench/check_yolov8n.py [MODEL.onnx] [IMAGE] [--engine onnxruntime openvino] [--precision f32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from visioncast.core.payload import result_to_payload
from visioncast.models import load_model
from visioncast.sources.image import read_image

SHARED = Path(__file__).resolve().parents[2] / "shared"
EXPECTED_PERSONS = (0.90, 0.90, 0.89)
EXPECTED_BUS = 0.82
TOLERANCE = 0.01


def verdict(ok: bool, engine: str, what: str, got: object) -> bool:
    print(f"{'PASS' if ok else 'FAIL'} [{engine}] {what}: {got}")
    return ok


def close_to(values: list[float], expected: tuple[float, ...]) -> bool:
    return len(values) >= len(expected) and all(
        abs(v - e) <= TOLERANCE for v, e in zip(values, expected, strict=False))


def check(model: Path, image: Path, engine: str, precision: str) -> bool:
    detector = load_model(model, engine=engine, precision=precision)
    result = detector.detect(read_image(image))
    dets = result.detections
    persons = sorted((float(s) for s, lb in zip(dets.score, dets.labels, strict=True) if lb == "person"),
                     reverse=True)
    buses = sorted((float(s) for s, lb in zip(dets.score, dets.labels, strict=True) if lb == "bus"),
                   reverse=True)
    checks = [
        verdict(detector.task == "detect", engine, "task recognised as detect", detector.task),
        verdict(detector.family == "ultralytics", engine, "family recognised", detector.family),
        verdict(detector.labels[:1] == ("person",) and len(detector.labels) == 80, engine,
                "80 labels from the model metadata",
                f"{len(detector.labels)} labels, first {detector.labels[:1]}"),
        verdict(close_to(persons[:3], EXPECTED_PERSONS), engine,
                f"top persons {'/'.join(f'{v:.2f}' for v in EXPECTED_PERSONS)} ±{TOLERANCE}",
                "/".join(f"{v:.3f}" for v in persons[:3]) or "none"),
        verdict(close_to(buses[:1], (EXPECTED_BUS,)), engine, f"bus {EXPECTED_BUS:.2f} ±{TOLERANCE}",
                "/".join(f"{v:.3f}" for v in buses) or "none"),
    ]
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
