"""Arguments shared by several commands (model choice, engine, thresholds) and their mapping to the Config."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from visioncast import config as config_mod
from visioncast.config import Config
from visioncast.errors import InputError
from visioncast.models.labels import BUILTIN
from visioncast.runtimes.base import DEVICES, ENGINES, PRECISIONS
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
    g.add_argument("--engine", choices=ENGINES, help="inference engine (default onnxruntime)")
    g.add_argument("-d", "--device", type=str.upper, choices=DEVICES, help="device (OpenVINO: CPU/GPU/AUTO)")
    g.add_argument("--precision", choices=PRECISIONS, help="OpenVINO inference precision hint (default f32)")
    g.add_argument("--threads", type=int, help="inference threads (default: one per available CPU)")
    g.add_argument("--family", choices=FAMILIES, help="detector family (default: recognised from the model)")
    g.add_argument("--labels", help=f"labels file (UTF-8, one per line) or one of {', '.join(BUILTIN)}")
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
    }
    over.update(extra or {})
    return config_mod.load(getattr(args, "config", None), overrides=over)


def model_kwargs(cfg: config_mod.ModelsConfig) -> dict[str, Any]:
    """Keyword arguments of ``load_model`` from the models section."""
    return {
        "engine": cfg.engine,
        "device": cfg.device,
        "precision": cfg.precision,
        "threads": cfg.threads or None,
        "family": cfg.family or None,
        "labels": cfg.labels or None,
        "cache_dir": Path(cfg.cache_dir),
    }
