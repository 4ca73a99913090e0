"""`visioncast detect`, `classify`, `pose` and `face`: local inference on image files, or on paths typed at a
prompt."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import cv2

from visioncast.cli import display
from visioncast.cli.options import add_model_options, load_config, model_kwargs
from visioncast.core.payload import result_to_payload
from visioncast.core.types import Result
from visioncast.draw import draw_result
from visioncast.errors import InputError, VisioncastError
from visioncast.models import load_model
from visioncast.models.registry import DEFAULTS, Model
from visioncast.sources.image import IMAGE_SUFFIXES, read_image
from visioncast.tasks import Classifier, Detector

KEYPOINT_SEEN = 0.3  # a keypoint counts as seen in the printed summary from this score
PROMPT = "Image path (Enter = sample messi5.jpg, q = quit): "
DEFAULT_OUT = "visioncast_out"


def sample_image() -> Path:
    """The sample photo shipped in the package (messi5.jpg: football players and a ball)."""
    return Path(str(resources.files("visioncast") / "samples" / "messi5.jpg"))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="detect objects in images (COCO-80 YOLOX-nano by default)",
                       description="Detect objects in images. With no SOURCE, asks for paths in a loop.")
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="image files or folders of images")
    add_model_options(p)
    p.add_argument("--sample", action="store_true", help="add the sample photo shipped with visioncast")
    p.add_argument("--json", action="store_true", help="print one JSON result per line")
    p.add_argument("-o", "--output", help=f"annotated image file or folder (default ./{DEFAULT_OUT}/)")
    p.add_argument("--no-save", action="store_true", help="do not save annotated images")
    p.add_argument("--show", action="store_true", help="show each annotated image in a window")
    p.set_defaults(handler=run_detect, task="detect")
    _add_keypoint_parser(sub, "pose", "find people and their 17 body keypoints (MoveNet by default)")
    _add_keypoint_parser(sub, "face", "find faces and 5 landmarks: eyes, nose, mouth corners (YuNet)")

    c = sub.add_parser("classify", help="classify images (CIFAR-10 ResNet-56 by default)",
                       description="Classify images. With no IMAGE, asks for paths in a loop.")
    c.add_argument("sources", nargs="*", metavar="IMAGE", help="image files or folders of images")
    add_model_options(c, thresholds=False)
    c.add_argument("--sample", action="store_true", help="add the sample photo shipped with visioncast")
    c.add_argument("--top", type=int, default=5, help="how many classes to print (default 5)")
    c.add_argument("--json", action="store_true", help="print one JSON result per line")
    c.set_defaults(handler=run_classify, task="classify", output=None, no_save=True, show=False)


def _add_keypoint_parser(sub: argparse._SubParsersAction, task: str, help_text: str) -> None:
    """`visioncast pose` / `face`: the flags of detect (--conf 0–1 filters people/faces by score)."""
    p = sub.add_parser(task, help=help_text, description=f"{help_text[0].upper()}{help_text[1:]}. With no "
                       "SOURCE, asks for paths in a loop.")
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="image files or folders of images")
    add_model_options(p)
    p.add_argument("--sample", action="store_true", help="add the sample photo shipped with visioncast")
    p.add_argument("--json", action="store_true", help="print one JSON result per line")
    p.add_argument("-o", "--output", help=f"annotated image file or folder (default ./{DEFAULT_OUT}/)")
    p.add_argument("--no-save", action="store_true", help="do not save annotated images")
    p.add_argument("--show", action="store_true", help="show each annotated image in a window")
    p.set_defaults(handler=_run, task=task)


def expand(sources: list[str]) -> Iterator[Path]:
    """Files as given; folders replaced by their images in name order."""
    for src in sources:
        path = Path(src).expanduser()
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield path


def prompt_paths() -> Iterator[Path]:
    """Paths typed at the prompt until q or end of input; Enter alone gives the sample image."""
    while True:
        try:
            line = input(PROMPT).strip().strip('"').strip("'")
        except EOFError:
            print()
            return
        if line.lower() in ("q", "quit", "exit"):
            return
        yield Path(line).expanduser() if line else sample_image()


def _classes(text: str | None, labels: tuple[str, ...]) -> tuple[int, ...] | None:
    if not text:
        return None
    ids = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        if item.isdigit():
            ids.append(int(item))
        elif item in labels:
            ids.append(labels.index(item))
        else:
            raise InputError(f"--classes: {item!r} is neither a class id nor one of this model's labels")
    return tuple(ids)


def print_result(path: Path, result: Result, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result_to_payload(result, source=str(path)), ensure_ascii=False), flush=True)
        return
    total = sum(result.timings_ms.values())
    if result.detections is not None:
        dets = result.detections
        print(f"{path}: {len(dets)} detections ({result.model}, {total:.1f} ms)")
        for i in range(len(dets)):
            box = ", ".join(f"{v:.0f}" for v in dets.xyxy[i])
            print(f"  {dets.labels[i]:<14} {dets.score[i]:.2f}  [{box}]{_keypoint_summary(result, i)}")
    if result.classification is not None:
        cls = result.classification
        print(f"{path}: {cls.top_label} ({result.model}, {total:.1f} ms)")
        for i in range(len(cls.labels)):
            print(f"  {cls.labels[i]:<14} {cls.score[i]:.4f}")
    sys.stdout.flush()


def _keypoint_summary(result: Result, i: int) -> str:
    """'  17 keypoints, 15 seen' for a person or face with keypoints, '' otherwise."""
    kps = result.detections.keypoints if result.detections is not None else None
    if kps is None:
        return ""
    seen = int((kps[i, :, 2] >= KEYPOINT_SEEN).sum())
    return f"  {kps.shape[1]} keypoints, {seen} seen"


def _save_path(output: str | None, path: Path, many: bool) -> Path:
    out = Path(output or DEFAULT_OUT)
    if out.suffix.lower() in IMAGE_SUFFIXES and not many:
        out.parent.mkdir(parents=True, exist_ok=True)
        return out
    out.mkdir(parents=True, exist_ok=True)
    return out / path.name


def _handle(model: Model, path: Path, args: argparse.Namespace, many: bool) -> None:
    image = read_image(path)
    result = model.classify(image, top=args.top) if isinstance(model, Classifier) else model(image)
    print_result(path, result, args.json)
    if not args.no_save or args.show:
        annotated = draw_result(image, result)
        if not args.no_save:
            target = _save_path(args.output, path, many)
            if not cv2.imwrite(str(target), annotated):
                raise VisioncastError(f"cannot write annotated image to '{target}'")
            print(f"saved {target}", file=sys.stderr if args.json else sys.stdout)
        if args.show and (problem := display.show(f"visioncast - {path.name}", annotated)):
            print(f"visioncast: cannot show the image: {problem}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    defaults = {"detect": cfg.models.detect, "classify": cfg.models.classify}
    ref = args.model or defaults.get(args.task, DEFAULTS[args.task])
    model = load_model(ref, task=args.task, **model_kwargs(cfg.models))
    if isinstance(model, Detector):
        model.options = model.options.merged(conf=cfg.models.conf, iou=cfg.models.iou,
                                             max_det=cfg.models.max_det,
                                             classes=_classes(getattr(args, "classes", None), model.labels))
    elif not isinstance(model, Classifier):  # pose/face keep their own defaults unless a flag is given
        model.options = model.options.merged(conf=args.conf, iou=args.iou, max_det=args.max_det,
                                             classes=_classes(args.classes, model.labels))
    if args.task == "classify" and args.top < 1:
        raise InputError(f"--top must be at least 1, got {args.top}")
    if args.sample:
        args.sources = [*args.sources, str(sample_image())]
    interactive = not args.sources
    paths = prompt_paths() if interactive else expand(args.sources)
    many = interactive or len(args.sources) > 1 or any(Path(s).is_dir() for s in args.sources)
    failures = 0
    for path in paths:
        try:
            _handle(model, path, args, many)
        except InputError as exc:
            failures += 1
            if getattr(args, "debug", False):
                traceback.print_exc()
            print(f"visioncast: error: {exc}", file=sys.stderr, flush=True)
    return 1 if failures and not interactive else 0


run_detect = _run
run_classify = _run
