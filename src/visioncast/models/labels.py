"""Class names: built-in COCO-80 and CIFAR-10, labels files (UTF-8, one per line; JSON; Ultralytics/Mind+
YAML with ``names``) and ONNX metadata ``names``; the one check every label passes where it is made.

A label ends up on pages, in MQTT messages and in board programs, so it is checked once, where it is created
(:func:`check_labels`: teach classes, labels files, model metadata): trimmed and NFC-normalised; NUL, control
characters, line and paragraph separators and invisible or bidirectional formatting characters (U+202E, the
right-to-left override, among them) refused; and a label that only looks like another one (the same after
NFKC, case folding and mapping look-alike letters such as Cyrillic 'а' to Latin 'a': :func:`label_skeleton`)
refused with a message naming both.

I/O: :func:`read_labels_file` reads a file and :func:`sibling_labels_file` looks beside a model; the rest is
pure.
"""

from __future__ import annotations

import ast
import json
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from visioncast.errors import InputError, ModelError

MAX_LABEL = 64  # characters of a class name that is taught here
#: Letters of other scripts that look like a Latin letter (from Unicode's confusables for Cyrillic and Greek;
#: fullwidth and other compatibility forms are NFKC's job). Both cases: the skeleton is taken before folding.
LOOK_ALIKES = str.maketrans(
    "аАвВеЕёЁһҺіІїЇјЈкКмМнНоОрРсСтТуУхХѕЅԁԛԝӏ"
    "αΑβΒεΕηΗιΙκΚμΜνΝοΟρΡτΤυΥχΧζΖγϳ",
    "aABBeEëËhHiIïÏjJkKmMHHoOpPcCTTyYxXsSdqwl"
    "aABBeEnHiIkKuMvNoOpPTTuYxXZZyj")
_ALLOWED_FORMAT = {"\u200d"}  # the zero-width joiner of emoji sequences

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

SELFIE = ("background", "person")  # MediaPipe's selfie segmentation: class 0 is the background

BUILTIN = {"coco80": COCO80, "cifar10": CIFAR10, "selfie": SELFIE}


def clean_label(raw: str, *, what: str = "class name") -> str:
    """``raw`` trimmed and NFC-normalised; InputError naming the character when it holds NUL, a control
    character, a line or paragraph separator, or an invisible or bidirectional formatting character."""
    text = raw.strip()
    for char in text:
        category = unicodedata.category(char)
        if category in ("Cc", "Cs", "Zl", "Zp") or (category == "Cf" and char not in _ALLOWED_FORMAT):
            name = unicodedata.name(char, "a control character")
            raise InputError(f"{what} {raw!r} holds U+{ord(char):04X} ({name}): a {what} must be plain "
                             f"text on one line, without control, invisible or right-to-left characters")
    return unicodedata.normalize("NFC", text)


def label_skeleton(label: str) -> str:
    """What ``label`` looks like: NFKC, look-alike letters mapped to Latin (:data:`LOOK_ALIKES`), case-folded.
    Two labels with the same skeleton are easily taken for each other."""
    mapped = unicodedata.normalize("NFKC", label).translate(LOOK_ALIKES)
    return unicodedata.normalize("NFKC", mapped.casefold())


def check_labels(labels: Iterable[str], existing: Iterable[str] = (), *, what: str = "class name",
                 max_chars: int | None = MAX_LABEL, same_allowed: bool = False) -> tuple[str, ...]:
    """``labels`` each :func:`clean_label`-ed; InputError for an empty one, one longer than ``max_chars``, one
    given twice (unless ``same_allowed``: a dataset's labels file may name two classes alike, as ImageNet's
    two "crane"s) or one that looks like another of ``labels`` or ``existing`` without being it, naming
    both."""
    seen = {label_skeleton(old): old for old in existing}
    out: list[str] = []
    for raw in labels:
        label = clean_label(raw, what=what)
        if not label or (max_chars is not None and len(label) > max_chars):
            limit = "" if max_chars is None else f" of at most {max_chars} characters"
            raise InputError(f"a {what} must be text{limit}, got {raw!r}")
        skeleton = label_skeleton(label)
        other = seen.get(skeleton)
        if other == label and not same_allowed:
            raise InputError(f"{what} {label!r} is given twice")
        if other is not None and other != label:
            raise InputError(f"{what} {label!r} looks like {other!r} (the same letters from another script, "
                             f"another case or width): give classes names that read differently")
        seen[skeleton] = label
        out.append(label)
    return tuple(out)


def checked_names(names: Iterable[str], *, where: str) -> tuple[str, ...]:
    """A model's class names (a labels file, metadata) through :func:`check_labels`; ModelError naming
    ``where``. Names alike are kept (datasets have them), look-alikes and control characters are not."""
    try:
        return check_labels(names, what="label", max_chars=None, same_allowed=True)
    except InputError as exc:
        raise ModelError(f"{where}: {exc}") from exc


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
    labels = [line for line in text.splitlines() if line.strip()]
    if not labels:
        raise ModelError(f"labels file '{path}' holds no labels")
    return checked_names(labels, where=f"labels file '{path}'")


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
        return checked_names(names, where=where)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return checked_names(value, where=where)
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
        return checked_names(out, where=where)
    if isinstance(names, list) and names:
        return checked_names((str(n) for n in names), where=where)
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


def class_ids(text: str | None, labels: Sequence[str], model: str, *, field: str) -> tuple[int, ...] | None:
    """``"0,person,bus"`` → the class ids of a model with ``labels``, or None for no text. InputError naming
    ``field`` (``query 'classes'``, ``--classes``) for an item that is neither an id in range nor a label."""
    if text is None or not text.strip():
        return None
    ids = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        if item.isascii() and item.isdigit() and int(item) < len(labels):
            ids.append(int(item))
        elif item in labels:
            ids.append(labels.index(item))
        else:
            raise InputError(f"{field}: {item[:40]!r} is neither a class id 0–{len(labels) - 1} nor a label "
                             f"of model {model!r} (e.g. {', '.join(labels[:3])})")
    return tuple(ids)
