"""Check that visioncast decodes an Ultralytics segmentation export's masks as Ultralytics' own predict does.

Needs ultralytics and torch, which are NOT visioncast dependencies (a separate environment, as for
check_ultralytics_pose.py): ``PYTHONPATH=src /work/benchvenv/bin/python bench/check_ultralytics_segment.py``.

With no MODEL it makes one (nothing is downloaded and nothing enters the repository): a ``yolov8n-seg.yaml``
network with random weights, batch-norm statistics calibrated on the test photos and the class biases raised
so that objects pass conf 0.25, exported to ONNX at imgsz 320 — a real export, whose masks are random shapes
rather than objects. For every image it matches visioncast's detections with ``YOLO(model).predict(conf,
iou=0.7)``'s in score order and compares each mask in original-image pixels: Ultralytics' ``masks.data``
mapped back by its ``scale_masks`` (> 0.5) against visioncast's outlines filled (its ``polygons``, simplified)
and against its ``area``, and visioncast's decoded mask itself (before it becomes outlines). Exits 1 when a
count differs or a decoded mask's IoU is below ``--min-iou`` (0.95). The outlines' IoU is lower on these
random, ragged masks (simplified outlines, parts under 0.05 % of the image left out) than on real objects.

    python bench/check_ultralytics_segment.py [--model M.onnx] [--images F ...]
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
from visioncast.tasks.detect import finish_indexed
from visioncast.tasks.mask import instance_mask
from visioncast.tasks.yolo_segment import UltralyticsSegmenter

ROOT = Path(__file__).resolve().parents[1]
IMAGES = sorted((ROOT / "tests/data").glob("*.jpg"))
CONF, IOU = 0.25, 0.7


def make_model(folder: Path, imgsz: int = 320) -> Path:
    """A yolov8n-seg export with input-dependent detections (see the module docstring)."""
    import torch  # noqa: PLC0415 - benchmark-only dependency
    from ultralytics import YOLO  # noqa: PLC0415

    torch.manual_seed(0)
    model = YOLO("yolov8n-seg.yaml", task="segment")
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
            branch[-1].bias.add_(4.0)
    target = folder / "seg.onnx"
    Path(model.export(format="onnx", imgsz=imgsz, simplify=False, dynamic=False)).replace(target)
    return target


def filled(polygons: tuple[np.ndarray, ...], shape: tuple[int, int]) -> np.ndarray:
    canvas = np.zeros(shape, np.uint8)
    cv2.fillPoly(canvas, [np.round(p).astype(np.int32) for p in polygons], 1)
    return canvas.astype(bool)


def decoded_masks(model: UltralyticsSegmenter, image: np.ndarray, options: TaskOptions) -> list[np.ndarray]:
    """visioncast's masks before they become outlines: the task's own stages up to tasks/mask.py."""
    prepared = model.prepare(image, options)
    outputs = model.infer(prepared.feeds)
    cands = model.decoder.decode(outputs, prepared.context, CONF)
    picked = finish_indexed(cands, prepared.context, prepared.options, model.labels)[1]
    masks = [instance_mask(outputs[1][0], cands.extra[i], cands.xyxy[i], prepared.context) for i in picked]
    return [m for m in masks if m.any()]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="an Ultralytics segmentation ONNX (default: make one)")
    parser.add_argument("--images", nargs="*", type=Path, default=IMAGES)
    parser.add_argument("--min-iou", type=float, default=0.95)
    args = parser.parse_args()
    from ultralytics import YOLO  # noqa: PLC0415 - benchmark-only dependency
    from ultralytics.utils import ops  # noqa: PLC0415

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        path = args.model or make_model(Path(tmp))
        ours = load_model(path, task="segment")
        if not isinstance(ours, UltralyticsSegmenter):
            print(f"FAIL: visioncast loaded {type(ours).__name__}, not UltralyticsSegmenter")
            return 1
        reference = YOLO(str(path), task="segment")
        options = TaskOptions(conf=CONF, iou=IOU, max_det=300)
        print("| image | objects (Ultralytics / visioncast) | max score diff | min / median mask IoU | "
              "median outline IoU | max area diff |\n|---|---|---|---|---|---|")
        for image_path in args.images:
            image = read_image(image_path)
            ref = reference.predict(str(image_path), verbose=False, conf=CONF, iou=IOU)[0]
            dets = ours(image, options).detections
            n = 0 if ref.masks is None else len(ref.masks.data)
            same = n == len(dets)
            ious, outlines, areas, d_score = [], [], [], 0.0
            if same and n:
                scaled = ops.scale_masks(ref.masks.data[None].float(), image.shape[:2])[0]
                theirs = (scaled > 0.5).cpu().numpy()
                theirs = theirs.transpose(1, 2, 0)
                d_score = float(np.abs(ref.boxes.conf.cpu().numpy() - dets.score).max())
                masks = decoded_masks(ours, image, options)
                for i in range(n):
                    ious.append(iou(masks[i], theirs[..., i]))
                    outlines.append(iou(filled(dets.polygons[i], image.shape[:2]), theirs[..., i]))
                    pixels = int(theirs[..., i].sum())
                    areas.append(abs(int(dets.area[i]) - pixels) / max(1, pixels))
            low = min(ious) if ious else 1.0
            ok &= same and low >= args.min_iou
            print(f"| {image_path.name} | {n} / {len(dets)} | {d_score:.6f} | {low:.4f} / "
                  f"{np.median(ious) if ious else 1.0:.4f} | "
                  f"{np.median(outlines) if outlines else 1.0:.4f} | "
                  f"{max(areas) if areas else 0.0:.2%} |")
    print(f"\n{'PASS' if ok else 'FAIL'} (IoU ≥ {args.min_iou})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
