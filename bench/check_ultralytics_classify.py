"""Check that visioncast answers an Ultralytics classification export with Ultralytics' own probabilities.

Needs ultralytics and torch, which are NOT visioncast dependencies: run it from a separate environment, e.g.
``python -m venv /tmp/ulvenv && /tmp/ulvenv/bin/pip install torch torchvision ultralytics onnxruntime`` and
``PYTHONPATH=src /tmp/ulvenv/bin/python bench/check_ultralytics_classify.py``.

With no MODEL, it makes one (no weights are downloaded and none enter the repository): a ``yolov8n-cls.yaml``
network with 3 classes named in Chinese (猫, 狗, 鸟), its batch-norm statistics calibrated on the test photos
and its last layer scaled so that the probabilities depend clearly on the image, exported to ONNX at imgsz 128
(not 224: the size must come from the metadata). Then, for every image, it compares ``YOLO(model).predict``
with ``visioncast.models.load_model(model).classify`` and prints the largest probability difference; for
contrast also that of a plain stretch-resize (what visioncast did before), to show the check can fail.
Exits 1 when a difference exceeds ``--tolerance`` (default 0.003).

    python bench/check_ultralytics_classify.py [--model M.onnx] [--images F ...] [--tolerance 0.003]
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
from visioncast.tasks.classify import Classifier, ClassifySpec

ROOT = Path(__file__).resolve().parents[1]
IMAGES = sorted([*(ROOT / "tests/data").glob("*.jpg"), *(ROOT / "tests/data/cifar10").glob("*.png")])
NAMES = {0: "猫", 1: "狗", 2: "鸟"}


def make_model(folder: Path, imgsz: int = 128) -> Path:
    """A 3-class yolov8n-cls export whose output depends on the image (see the module docstring)."""
    import torch  # noqa: PLC0415 - benchmark-only dependency
    from ultralytics import YOLO  # noqa: PLC0415
    from ultralytics.nn.tasks import ClassificationModel  # noqa: PLC0415

    torch.manual_seed(0)
    model = YOLO("yolov8n-cls.yaml", task="classify")
    ClassificationModel.reshape_outputs(model.model, len(NAMES))
    model.model.names = dict(NAMES)
    net = model.model
    for mod in net.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.reset_running_stats()
            mod.momentum = None  # a plain average over the calibration batch
    batch = torch.stack([torch.from_numpy(np.ascontiguousarray(cv2.resize(read_image(f), (imgsz, imgsz))[
        :, :, ::-1])).permute(2, 0, 1).float() / 255 for f in IMAGES])
    net.train()
    with torch.no_grad():
        net(batch)
    net.eval()
    with torch.no_grad():
        head = net.model[-1]
        logits = head.linear(head.drop(head.pool(head.conv(net.model[:-1](batch))).flatten(1)))
        head.linear.weight.div_(logits.std(0, keepdim=True).T.clamp(min=1e-6) / 2)
        head.linear.bias.zero_()
    target = folder / "cls_zh.onnx"
    Path(model.export(format="onnx", imgsz=imgsz, simplify=False, dynamic=False)).replace(target)
    return target


def probabilities(classifier: Classifier, image: np.ndarray) -> np.ndarray:
    result = classifier(image, top=len(classifier.labels))
    probs = np.zeros(len(classifier.labels), np.float32)
    probs[result.classification.class_id] = result.classification.score
    return probs


def fmt(probs: np.ndarray) -> str:
    return " ".join(f"{p:.4f}" for p in probs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="an Ultralytics classification ONNX (default: make one)")
    parser.add_argument("--images", nargs="*", type=Path, default=IMAGES)
    parser.add_argument("--tolerance", type=float, default=0.003)
    args = parser.parse_args()
    from ultralytics import YOLO  # noqa: PLC0415 - benchmark-only dependency

    with tempfile.TemporaryDirectory() as tmp:
        path = args.model or make_model(Path(tmp))
        ours = load_model(path)
        if not isinstance(ours, Classifier):
            print(f"FAIL: visioncast loaded {type(ours).__name__}, not a classifier")
            return 1
        stretch = Classifier(ours.runtime, ClassifySpec(ours.spec.size_wh, mean=None, std=None), ours.labels)
        reference = YOLO(str(path), task="classify")
        print(f"model {path.name}: {type(ours).__name__}, labels {ours.labels}, input {ours.spec.size_wh}")
        print("| image | Ultralytics | visioncast | max diff | stretch-resize diff |\n|---|---|---|---|---|")
        worst = 0.0
        for image_path in args.images:
            expected = reference.predict(str(image_path), verbose=False)[0].probs.data.cpu().numpy()
            image = read_image(image_path)
            got, naive = probabilities(ours, image), probabilities(stretch, image)
            diff, naive_diff = float(np.abs(got - expected).max()), float(np.abs(naive - expected).max())
            worst = max(worst, diff)
            print(f"| {image_path.name} | {fmt(expected)} | {fmt(got)} | {diff:.5f} | {naive_diff:.4f} |")
    ok = worst <= args.tolerance
    print(f"{'PASS' if ok else 'FAIL'}: largest difference {worst:.5f} (tolerance {args.tolerance})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
