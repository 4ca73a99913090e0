"""Arguments shared by several commands (model choice, engine, thresholds) and their mapping to the Config."""

from __future__ import annotations

import argparse
from typing import Any

from visioncast import config as config_mod
from visioncast.config import Config
from visioncast.errors import InputError
from visioncast.models.labels import BUILTIN, class_ids
from visioncast.runtimes.base import DEVICES, ENGINES, PRECISIONS
from visioncast.tasks.base import Task, TaskOptions
from visioncast.tasks.family import FAMILIES


def port_number(text: str) -> int:
    """An argparse type: a TCP port 1–65535 (argparse prints one line naming the option otherwise)."""
    return _port(text, low=1)


def port_or_zero(text: str) -> int:
    """An argparse type: a TCP port 0–65535, where 0 means any free port (or off)."""
    return _port(text, low=0)


def check_port(port: int, what: str, *, zero: str = "") -> None:
    """InputError (one line) unless ``port`` is 1–65535, or 0 when ``zero`` says what 0 means."""
    low = 0 if zero else 1
    if not low <= port <= 65535:
        meaning = f"; 0 = {zero}" if zero else ""
        raise InputError(f"{what} must be a port number {low}–65535{meaning}, got {port}")


def _port(text: str, *, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not low <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number {low}–65535, got {text!r}")
    return value


def add_model_options(parser: argparse.ArgumentParser, *, thresholds: bool = True) -> None:
    """-m/--engine/-d/--precision/--threads/--family/--labels (+ --conf/--iou/--max-det/--classes)."""
    g = parser.add_argument_group("model")
    g.add_argument("-m", "--model", help="model name (see `visioncast models`) or path to an .onnx file")
    g.add_argument("--engine", choices=(*ENGINES, "auto"),
                   help="inference engine; auto: the fastest that agrees, measured at a model's first "
                        "load on this machine (docs/engines.md)")
    g.add_argument("-d", "--device", type=str.upper, choices=DEVICES, help="device (OpenVINO: CPU/GPU/AUTO)")
    g.add_argument("--precision", choices=PRECISIONS, help="OpenVINO inference precision hint (default f32)")
    g.add_argument("--threads", type=int, help="inference threads (default: one per available CPU)")
    g.add_argument("--family", choices=FAMILIES, help="detector family (default: recognised from the model)")
    g.add_argument("--labels", help=f"labels file (UTF-8, one per line) or one of {', '.join(BUILTIN)}")
    g.add_argument("--face-size", type=int, metavar="PX",
                   help="faces in streams and video: the longest side frames are searched at (default 640)")
    g.add_argument("--face-max-side", type=int, metavar="PX",
                   help="faces in photos: searched at full resolution up to this side, tiled beyond "
                        "(default 1920)")
    if thresholds:
        g.add_argument("--conf", type=float, help="minimum confidence 0–1 (default 0.25)")
        g.add_argument("--iou", type=float, help="NMS IoU threshold 0–1 (default 0.45)")
        g.add_argument("--max-det", type=int, help="maximum detections per image (default 300)")
        g.add_argument("--classes", help="keep only these classes: names or ids, comma-separated")


def load_config(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> Config:
    """The Config for a command: file/env from --config, then the model flags and ``extra`` overrides."""
    over: dict[str, Any] = {
        "models.engine": getattr(args, "engine", None),
        "models.device": getattr(args, "device", None),
        "models.precision": getattr(args, "precision", None),
        "models.threads": getattr(args, "threads", None),
        "models.family": getattr(args, "family", None),
        "models.labels": getattr(args, "labels", None),
        "models.conf": getattr(args, "conf", None),
        "models.iou": getattr(args, "iou", None),
        "models.max_det": getattr(args, "max_det", None),
        "models.face_size": getattr(args, "face_size", None),
        "models.face_max_side": getattr(args, "face_max_side", None),
        "pipeline.lang": getattr(args, "lang", None),  # the language of the text drawn on images and frames
    }
    over.update(extra or {})
    return config_mod.load(getattr(args, "config", None), overrides=over)


def cli_task_options(args: argparse.Namespace, task: Task) -> TaskOptions:
    """The per-call options of the threshold flags (--conf, --iou, --max-det, --classes, --top) for
    ``task``; a flag not given takes the model's default."""
    classes = class_ids(getattr(args, "classes", None), task.labels, task.name, field="--classes")
    return TaskOptions(conf=getattr(args, "conf", None), iou=getattr(args, "iou", None),
                       max_det=getattr(args, "max_det", None), classes=classes,
                       top=getattr(args, "top", None))
