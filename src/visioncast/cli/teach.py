"""`visioncast teach NAME --class LABEL=DIR …`: teach a classifier from folders of images and register it."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from visioncast.cli.infer import why_skipped
from visioncast.cli.options import load_config
from visioncast.errors import InputError
from visioncast.models.labels import check_labels
from visioncast.sources.folder import folder_files
from visioncast.sources.image import read_image


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "teach", help="teach a classifier from folders of images (one per class)",
        description="Teach a classifier of your own labels from a few dozen images per class (a folder "
                    "each), report its held-out accuracy and register it: use it with -m NAME everywhere.")
    p.add_argument("name", help="name of the new model (letters, digits, '.', '_', '-')")
    p.add_argument("--class", dest="classes", action="append", required=True, metavar="LABEL=DIR",
                   help="a class and the folder of its images (repeat for each class, at least 2)")
    p.add_argument("--kind", choices=("image", "pose"), default="image",
                   help="learn from the whole image (default) or from the pose of the person in it "
                        "(MoveNet's 17 keypoints, e.g. 举手 / 坐下)")
    p.add_argument("--held-out", type=float, default=0.2, metavar="FRACTION",
                   help="share of each class kept aside to measure accuracy (default 0.2)")
    p.set_defaults(handler=run)


def parse_class(spec: str) -> tuple[str, Path]:
    """``LABEL=DIR`` → (label, folder); InputError naming the spec otherwise."""
    label, sep, folder = spec.partition("=")
    if not sep or not label.strip() or not folder.strip():
        raise InputError(f"--class must be LABEL=DIR, got {spec!r}")
    path = Path(folder.strip()).expanduser()
    if not path.is_dir():
        raise InputError(f"--class {label.strip()}: folder not found: '{path}'")
    return label.strip(), path


def read_folder(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """The images of a folder (sorted by name) and the names of the files that were skipped, with why."""
    images: list[np.ndarray] = []
    skipped: list[str] = []
    for file in folder_files(path):
        try:
            images.append(read_image(file))
        except InputError as exc:
            skipped.append(f"{file.name} ({why_skipped(exc)})")
    return images, skipped


def run(args: argparse.Namespace) -> int:
    from visioncast.teach import KINDS, FeatureExtractor, save_taught, teach  # noqa: PLC0415 - onnx only here

    if not 0.0 <= args.held_out < 1.0:
        raise InputError(f"--held-out must be at least 0 and below 1, got {args.held_out}")
    cfg = load_config(args)
    cache_dir = Path(cfg.models.cache_dir)
    samples: dict[str, list[np.ndarray]] = {}
    specs = [parse_class(spec) for spec in args.classes]
    labels = check_labels(label for label, _ in specs)  # control characters, twice, look-alikes: refused
    for label, (_, folder) in zip(labels, specs, strict=True):
        samples[label], skipped = read_folder(folder)
        print(f"{label}: {len(samples[label])} images from {folder}")
        for line in skipped:
            print(f"  skipped {line}")
    extractor = FeatureExtractor(KINDS[args.kind], cache_dir=cache_dir, threads=cfg.models.threads or None)
    try:
        model, report = teach(samples, extractor, held_out=args.held_out)
    finally:
        extractor.close()
    print("\n".join(report.lines()))
    info = save_taught(model, args.name, cache_dir=cache_dir)
    print(f"saved {info.name} ({info.path}); use it with -m {info.name} "
          f"(visioncast classify -m {info.name} IMAGE, serve, run)")
    return 0
