"""Class names: built-in COCO-80 and CIFAR-10, labels files (UTF-8, one per line) and ONNX metadata ``names``.

I/O: :func:`read_labels_file` reads a file; the rest is pure.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from visioncast.errors import ModelError

COCO80 = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

BUILTIN = {"coco80": COCO80, "cifar10": CIFAR10}


def read_labels_file(path: str | Path) -> tuple[str, ...]:
    """Labels from a UTF-8 text file (one per line, blank lines and a BOM ignored) or a JSON list/dict."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ModelError(f"labels file not found: '{path}'") from exc
    except UnicodeDecodeError as exc:
        raise ModelError(
            f"labels file '{path}' must be UTF-8 text, got undecodable bytes at {exc.start}") from exc
    if path.suffix.lower() == ".json":
        return parse_names(text, where=f"labels file '{path}'")
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not labels:
        raise ModelError(f"labels file '{path}' holds no labels")
    return labels


def parse_names(text: str, *, where: str = "model metadata names") -> tuple[str, ...]:
    """Names from a JSON/Python list or an {index: name} dict (as Ultralytics writes in metadata)."""
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            raise ModelError(f"{where} must be a list or {{index: name}} dict, got {text[:60]!r}") from exc
    if isinstance(value, dict):
        items = sorted((int(k), str(v)) for k, v in value.items())
        names = [f"class{i}" for i in range(items[-1][0] + 1)] if items else []
        for i, name in items:
            names[i] = name
        return tuple(names)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ModelError(f"{where} must be a list or {{index: name}} dict, got {type(value).__name__}")
