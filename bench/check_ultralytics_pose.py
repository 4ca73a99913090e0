"""Check that visioncast decodes an Ultralytics pose export as Ultralytics' own predict does.

Needs ultralytics and torch, which are NOT visioncast dependencies (see check_ultralytics_classify.py for a
separate environment): ``PYTHONPATH=src /tmp/ulvenv/bin/python bench/check_ultralytics_pose.py``.

With no MODEL it makes one (nothing is downloaded and nothing enters the repository): a ``yolov8n-pose.yaml``
network, batch-norm statistics calibrated on the test photos, the person-score bias raised so that about 70
people pass conf 0.25 in every image (a hard case for NMS), exported to ONNX at imgsz 320. For every image it
compares, detection by detection in score order, ``YOLO(model).predict(conf, iou=0.7)`` with visioncast's
UltralyticsPose at the same thresholds: the count, the scores, and the largest box and keypoint differences.
Boxes and keypoints may differ by up to about 1 px: Ultralytics ≥ 8.4 maps back with one gain per axis
(from the rounded resized size), visioncast's Letterbox with the one scale it resized by. Exits 1 when a count
differs, a score differs by more than 1e-4 or a coordinate by more than ``--tolerance-px`` (default 1.5).

    python bench/check_ultralytics_pose.py [--model M.onnx] [--images F ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from visioncast.models import load_model
from visioncast.sources.image import read_image
from visioncast.tasks.base import TaskOptions
from visioncast.tasks.yolo_pose import UltralyticsPose

ROOT = Path(__file__).resolve().parents[1]
IMAGES = sorted((ROOT / "tests/data").glob("*.jpg"))
CONF, IOU = 0.25, 0.7


def make_model(folder: Path, imgsz: int = 320) -> Path:
    """A yolov8n-pose export with input-dependent, plentiful detections (see the module docstring)."""
    import torch  # noqa: PLC0415 - benchmark-only dependency
    from ultralytics import YOLO  # noqa: PLC0415

    torch.manual_seed(0)
    model = YOLO("yolov8n-pose.yaml", task="pose")
    net = model.model
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.reset_running_stats()
            mod.momentum = None
    batch = torch.stack([torch.from_numpy(np.ascontiguousarray(cv2.resize(read_image(f), (imgsz, imgsz))[
        :, :, ::-1])).permute(2, 0, 1).float() / 255 for f in IMAGES])
    net.train()
    with torch.no_grad():
        net(batch)
    net.eval()
    with torch.no_grad():
        for branch in net.model[-1].cv3:
            branch[-1].bias.add_(5.0)
    target = folder / "pose.onnx"
    Path(model.export(format="onnx", imgsz=imgsz, simplify=False, dynamic=False)).replace(target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="an Ultralytics pose ONNX (default: make one)")
    parser.add_argument("--images", nargs="*", type=Path, default=IMAGES)
    parser.add_argument("--tolerance-px", type=float, default=1.5)
    args = parser.parse_args()
    from ultralytics import YOLO  # noqa: PLC0415 - benchmark-only dependency

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        path = args.model or make_model(Path(tmp))
        ours = load_model(path)
        if not isinstance(ours, UltralyticsPose):
            print(f"FAIL: visioncast loaded {type(ours).__name__}, not UltralyticsPose")
            return 1
        options = TaskOptions(conf=CONF, iou=IOU, max_det=300)
        reference = YOLO(str(path), task="pose")
        print(f"model {path.name}: input {ours.input_size}, {ours.kpts}×{ours.dims} keypoints\n")
        print("| image | people (Ultralytics / visioncast) | max score diff | max box diff px | "
              "max keypoint diff px |\n|---|---|---|---|---|")
        for image_path in args.images:
            ref = reference.predict(str(image_path), verbose=False, conf=CONF, iou=IOU)[0]
            dets = ours(read_image(image_path), options).detections
            boxes, scores = ref.boxes.xyxy.cpu().numpy(), ref.boxes.conf.cpu().numpy()
            kps = ref.keypoints.data.cpu().numpy()
            n = len(boxes)
            same = n == len(dets)
            d_score = float(np.abs(scores - dets.score).max()) if same and n else 0.0
            d_box = float(np.abs(boxes - dets.xyxy).max()) if same and n else 0.0
            d_kp = float(np.abs(kps[..., :2] - dets.keypoints[..., :2]).max()) if same and n else 0.0
            ok &= same and d_score <= 1e-4 and max(d_box, d_kp) <= args.tolerance_px
            print(f"| {image_path.name} | {n} / {len(dets)} | {d_score:.6f} | {d_box:.3f} | {d_kp:.3f} |")
    print(f"\n{'PASS' if ok else 'FAIL'} (tolerance {args.tolerance_px} px)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
