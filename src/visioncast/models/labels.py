"""Class names: built-in COCO-80 and CIFAR-10, labels files (UTF-8, one per line; JSON; Ultralytics/Mind+
YAML with ``names``) and ONNX metadata ``names``.

I/O: :func:`read_labels_file` reads a file and :func:`sibling_labels_file` looks beside a model; the rest is
pure.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import yaml

from visioncast.errors import ModelError

#: Files beside ``model.onnx`` that name its classes, first found wins ({stem} = the model's file stem): what
#: Ultralytics and the Mind+ training tools write next to an export.
SIBLING_LABELS = ("{stem}.yaml", "{stem}.yml", "{stem}.txt", "{stem}.names", "data.yaml", "metadata.yaml",
                  "labels.txt", "classes.txt")

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
    if path.suffix.lower() in (".yaml", ".yml"):
        return yaml_names(text, where=f"labels file '{path}'")
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


def yaml_names(text: str, *, where: str) -> tuple[str, ...]:
    """``names`` of an Ultralytics/Mind+ YAML (a list, or an {index: name} mapping)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelError(f"{where} is not valid YAML: {exc}") from exc
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict) and names:
        items = sorted((int(k), str(v)) for k, v in names.items())
        out = [f"class{i}" for i in range(items[-1][0] + 1)]
        for i, name in items:
            out[i] = name
        return tuple(out)
    if isinstance(names, list) and names:
        return tuple(str(n) for n in names)
    raise ModelError(f"{where} must have 'names' as a list or an {{index: name}} mapping")


def sibling_labels_file(model_path: Path) -> Path | None:
    """The first labels file of :data:`SIBLING_LABELS` beside ``model_path`` that names classes, or None."""
    for pattern in SIBLING_LABELS:
        candidate = model_path.with_name(pattern.format(stem=model_path.stem))
        if candidate.is_file() and candidate != model_path:
            text = candidate.read_text("utf-8-sig", errors="replace")
            if candidate.suffix in (".yaml", ".yml") and "names" not in text:
                continue  # e.g. an args.yaml of training settings: not a names file
            return candidate
    return None
