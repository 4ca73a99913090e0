"""`visioncast models`: list known models; `visioncast models pull`: download one into the cache."""

from __future__ import annotations

import argparse
from pathlib import Path

from visioncast.cli.options import load_config
from visioncast.config import ModelsConfig
from visioncast.errors import ModelError
from visioncast.models.choice import cached_choice
from visioncast.models.registry import AUTO, ModelInfo, guess_task, list_models
from visioncast.runtimes import open_runtime
from visioncast.tasks.family import detect_family, input_size


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list models; `models pull URL --sha256 HEX` downloads one",
                       description="List the shipped and pulled models, or pull one into the cache.")
    p.set_defaults(handler=run_list)
    msub = p.add_subparsers(dest="models_command", metavar="ACTION")
    pull = msub.add_parser("pull", help="download a model (sha256-checked) into the cache")
    pull.add_argument("url", help="http(s) URL of an .onnx file")
    pull.add_argument("--sha256", required=True, help="expected SHA-256 of the file (64 hex digits)")
    pull.add_argument("--name", help="name to register it under (default: the file's stem)")
    pull.add_argument("--task", choices=("detect", "classify"), help="task (default: read from the model)")
    pull.add_argument("--labels", help="labels file or built-in set for this model")
    pull.add_argument("--licence", default="unknown", help="licence to show in `visioncast models`")
    pull.set_defaults(handler=run_pull)


def describe(info: ModelInfo) -> tuple[str, str, str]:
    """(task, family, input size) read from the model itself."""
    runtime = open_runtime(info.path, threads=1)
    try:
        spec = runtime.inputs[0]
        task = info.task or guess_task(runtime)
        w: int | None
        h: int | None
        if task == "detect":
            w, h = input_size(runtime, spec)
            try:
                family = info.family or detect_family(runtime)
            except ModelError:
                family = "? (use --family)"
        else:
            family = info.family or "-"
            nhwc = spec.shape[-1] == 3
            h, w = spec.static_dim(1 if nhwc else 2), spec.static_dim(2 if nhwc else 3)
        return task, family, f"{w}x{h}" if w and h else "any size"  # e.g. YuNet: fitted to each image
    finally:
        runtime.close()


def engine_of(info: ModelInfo, models: ModelsConfig) -> str:
    """The engine a model runs on with these settings: the configured one, or auto's stored choice."""
    if models.engine != AUTO:
        return models.engine + (f" {models.precision}" if models.engine == "openvino" else "")
    choice = cached_choice(info.path, Path(models.cache_dir)) if info.path.is_file() else None
    return f"{choice.label} (auto)" if choice is not None else "auto: measured at first load"


def run_list(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    rows = [("NAME", "TASK", "FAMILY", "INPUT", "ENGINE", "LICENCE", "SIZE", "ORIGIN")]
    for info in list_models(Path(cfg.models.cache_dir)):
        task, family, size = describe(info)
        megabytes = f"{info.size_bytes / 1e6:.1f} MB"
        rows.append((info.name, task, family, size, engine_of(info, cfg.models), info.licence, megabytes,
                     info.origin))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def run_pull(args: argparse.Namespace) -> int:
    from visioncast.models.download import pull_model  # noqa: PLC0415 - requests and tqdm load only to pull

    cfg = load_config(args)
    info = pull_model(args.url, args.sha256, cache_dir=Path(cfg.models.cache_dir), name=args.name,
                      task=args.task, labels=args.labels, licence=args.licence)
    print(f"pulled {info.name} → {info.path}")
    return 0
