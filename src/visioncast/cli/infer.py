"""`visioncast detect`, `classify`, `pose`, `face` and `segment`: local inference on image files, or on paths
typed at a prompt. A batch (several files or a folder) ends with a summary line — "12 images, 2 skipped: a.gif
(GIF), b.jpg (corrupt)" — and exits 1 when any file was skipped or none was processed."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import cv2

from visioncast.cli import display
from visioncast.cli.options import add_model_options, cli_task_options, load_config
from visioncast.core.payload import result_to_payload
from visioncast.core.types import Result
from visioncast.draw import draw_result
from visioncast.errors import InputError, VisioncastError
from visioncast.lang import LANGS
from visioncast.models import load_configured
from visioncast.sources.folder import folder_files
from visioncast.sources.image import WRITABLE_SUFFIXES, UnsupportedImageError, read_image
from visioncast.tasks import Task, TaskOptions, run_stages

KEYPOINT_SEEN = 0.3  # a keypoint counts as seen in the printed summary from this score
PROMPT = "Image path (Enter = sample messi5.jpg, q = quit): "
DEFAULT_OUT = "visioncast_out"
SHOWN_SKIPS = 10  # files named in the summary line; the rest are counted
REASONS = {"image_empty": "empty", "image_corrupt": "corrupt", "image_too_large": "too large",
           "image_too_small": "too small", "image_too_thin": "too long and thin", "image_unsupported":
           "unsupported format", "unsupported_media": "unsupported format", "too_large": "too large"}


SAMPLES = {"classify": "cifar10-cat.png"}  # the default classifier knows CIFAR-10's ten classes, not people


def sample_image(task: str = "detect") -> Path:
    """The sample shipped in the package for ``task``: messi5.jpg (football players and a ball), or for
    classify a CIFAR-10 test image (a cat, 32×32)."""
    return Path(str(resources.files("visioncast") / "samples" / SAMPLES.get(task, "messi5.jpg")))


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
    p.add_argument("--lang", choices=LANGS, help="language of the labels drawn (default: config "
                   "pipeline.lang, else the locale's)")
    p.set_defaults(handler=run_detect, task="detect")
    _add_keypoint_parser(sub, "pose", "find people and their 17 body keypoints (MoveNet by default)")
    _add_keypoint_parser(sub, "face", "find faces and 5 landmarks: eyes, nose, mouth corners (YuNet)")
    _add_keypoint_parser(sub, "segment", "outline what is where, pixel by pixel: people (MediaPipe selfie "
                         "segmentation by default; Ultralytics -seg exports: each object's mask)")

    c = sub.add_parser("classify", help="classify images (CIFAR-10 ResNet-56 by default)",
                       description="Classify images. With no IMAGE, asks for paths in a loop.")
    c.add_argument("sources", nargs="*", metavar="IMAGE", help="image files or folders of images")
    add_model_options(c, thresholds=False)
    c.add_argument("--sample", action="store_true",
                   help="add the sample shipped with visioncast (a CIFAR-10 cat, for the default model)")
    c.add_argument("--top", type=int, default=5, help="how many classes to print (default 5)")
    c.add_argument("--json", action="store_true", help="print one JSON result per line")
    c.set_defaults(handler=run_classify, task="classify", output=None, no_save=True, show=False)


def _add_keypoint_parser(sub: argparse._SubParsersAction, task: str, help_text: str) -> None:
    """`visioncast pose` / `face` / `segment`: the flags of detect (--conf 0–1 filters people/faces by score;
    a segmentation model's foreground threshold)."""
    p = sub.add_parser(task, help=help_text, description=f"{help_text[0].upper()}{help_text[1:]}. With no "
                       "SOURCE, asks for paths in a loop.")
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="image files or folders of images")
    add_model_options(p)
    p.add_argument("--sample", action="store_true", help="add the sample photo shipped with visioncast")
    p.add_argument("--json", action="store_true", help="print one JSON result per line")
    p.add_argument("-o", "--output", help=f"annotated image file or folder (default ./{DEFAULT_OUT}/)")
    p.add_argument("--no-save", action="store_true", help="do not save annotated images")
    p.add_argument("--show", action="store_true", help="show each annotated image in a window")
    p.add_argument("--lang", choices=LANGS, help="language of the labels drawn (default: config "
                   "pipeline.lang, else the locale's)")
    p.set_defaults(handler=_run, task=task)


def expand(sources: list[str]) -> Iterator[Path]:
    """Files as given; folders replaced by their files in name order (the decoder says which are images)."""
    for src in sources:
        path = Path(src).expanduser()
        if path.is_dir():
            yield from folder_files(path)
        else:
            yield path


def why_skipped(exc: VisioncastError) -> str:
    """A few words for the summary line: the kind of file for one that is no image, else the problem."""
    if isinstance(exc, UnsupportedImageError):
        return exc.kind
    if exc.code in REASONS:
        return REASONS[exc.code]
    if isinstance(exc.__cause__, OSError):  # read_image's: the file could not be read
        return "not found" if isinstance(exc.__cause__, FileNotFoundError) else "unreadable"
    return exc.code.replace("_", " ")


@dataclass
class Batch:
    """What a batch of images came to: how many were processed, which were skipped and why."""

    done: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, path: Path, reason: str) -> None:
        self.skipped.append((path.name, reason))

    def summary(self) -> str:
        """'12 images, 2 skipped: a.gif (GIF), b.heic (corrupt)'."""
        text = f"{self.done} image{'' if self.done == 1 else 's'}, {len(self.skipped)} skipped"
        if self.skipped:
            named = [f"{name} ({why})" for name, why in self.skipped[:SHOWN_SKIPS]]
            more = len(self.skipped) - SHOWN_SKIPS
            text += ": " + ", ".join(named) + (f" and {more} more" if more > 0 else "")
        return text

    def report(self, sources: list[str], *, as_json: bool) -> int:
        """Print the summary line (stderr for --json, whose stdout is results only); the exit code."""
        if self.done == 0:
            found = self.summary() if self.skipped else "no files in " + ", ".join(f"'{s}'" for s in sources)
            print(f"visioncast: error: no image was processed ({found})", file=sys.stderr, flush=True)
            return 1
        print(self.summary(), file=sys.stderr if as_json else sys.stdout, flush=True)
        return 1 if self.skipped else 0


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
            print(f"  {pad(dets.labels[i], 14)} {dets.score[i]:.2f}  [{box}]{_keypoint_summary(result, i)}"
                  f"{_mask_summary(result, i)}")
    if result.classification is not None:
        cls = result.classification
        print(f"{path}: {cls.top_label} ({result.model}, {total:.1f} ms)")
        for i in range(len(cls.labels)):
            print(f"  {pad(cls.labels[i], 14)} {cls.score[i]:.4f}")
    sys.stdout.flush()


def pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` terminal columns (Chinese characters take two), for aligned columns."""
    columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - columns)


def _keypoint_summary(result: Result, i: int) -> str:
    """'  17 keypoints, 15 seen' for a person or face with keypoints, '' otherwise."""
    kps = result.detections.keypoints if result.detections is not None else None
    if kps is None:
        return ""
    seen = int((kps[i, :, 2] >= KEYPOINT_SEEN).sum())
    return f"  {kps.shape[1]} keypoints, {seen} seen"


def _mask_summary(result: Result, i: int) -> str:
    """'  mask 51234 px (12.3%)' for a segmented region, '' otherwise."""
    area = result.detections.area if result.detections is not None else None
    if area is None:
        return ""
    return f"  mask {int(area[i])} px ({area[i] / (result.width * result.height):.1%})"


def _save_path(output: str | None, path: Path, many: bool) -> Path:
    out = Path(output or DEFAULT_OUT)
    if out.suffix.lower() in WRITABLE_SUFFIXES and not many:
        out.parent.mkdir(parents=True, exist_ok=True)
        return out
    out.mkdir(parents=True, exist_ok=True)
    # a HEIC/AVIF photo is drawn on and saved as a JPEG of the same name
    return out / (path.name if path.suffix.lower() in WRITABLE_SUFFIXES else f"{path.stem}.jpg")


def _handle(model: Task, options: TaskOptions, path: Path, args: argparse.Namespace, *, many: bool,
            lang: str) -> None:
    image = read_image(path)
    result = run_stages(model, image, options)
    print_result(path, result, args.json)
    if not args.no_save or args.show:
        annotated = draw_result(image, result, lang=lang)
        if not args.no_save:
            target = _save_path(args.output, path, many)
            if not cv2.imwrite(str(target), annotated):
                raise VisioncastError(f"cannot write annotated image to '{target}'")
            print(f"saved {target}", file=sys.stderr if args.json else sys.stdout)
        if args.show and (problem := display.show(f"visioncast - {path.name}", annotated)):
            print(f"visioncast: cannot show the image: {problem}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    model = load_configured(cfg.models, args.model, task=args.task)
    options = cli_task_options(args, model)
    if args.sample:
        args.sources = [*args.sources, str(sample_image(args.task))]
    interactive = not args.sources
    paths = prompt_paths() if interactive else expand(args.sources)
    many = interactive or len(args.sources) > 1 or any(Path(s).is_dir() for s in args.sources)
    batch = Batch()
    for path in paths:
        try:
            _handle(model, options, path, args, many=many, lang=cfg.pipeline.lang)
            batch.done += 1
        except InputError as exc:
            batch.skip(path, why_skipped(exc))
            if getattr(args, "debug", False):
                traceback.print_exc()
            print(f"visioncast: error: {exc}", file=sys.stderr, flush=True)
    if interactive:
        return 0
    if many:
        return batch.report(args.sources, as_json=args.json)
    return 1 if batch.skipped else 0


run_detect = _run
run_classify = _run
