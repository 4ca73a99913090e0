"""Teaching benchmark: training time, a taught model's latency against its extractor alone, and held-out
accuracy on public sets. Prints Markdown tables; asserts nothing.

* training — ``teach()`` on 4 classes × 30 samples (the test builders: crops of three real photos and frames
  of the street clip), feature extraction included, a fresh extractor each round; median of the rounds;
* latency — the taught model end to end (``Classifier.classify`` on a 640×480 image: resize, uint8, graph,
  softmax, top-k) against the extractor alone (``FeatureExtractor.features`` on the same image), taking turns
  of 20 calls so machine load falls on both alike; median per-call times and their ratio (target ≤ 1.5);
* accuracy — UCI handwritten digits (tests/data/digits_400.npz: 30 per class to train, 10 to test) and the
  20 CIFAR-10 test images of tests/data/cifar10 (leave one out: each image classified by a head trained on
  the other 19).

    python bench/bench_teach.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.teach_samples import DATA, class_samples  # noqa: E402

from visioncast.models import load_model  # noqa: E402
from visioncast.tasks.base import TaskOptions  # noqa: E402
from visioncast.teach import FeatureExtractor, save_taught, teach  # noqa: E402
from visioncast.teach.head import evaluate, fit_head  # noqa: E402


def training(rounds: int, cache: Path) -> list[float]:
    samples = class_samples(30)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        extractor = FeatureExtractor(cache_dir=cache)
        teach(samples, extractor)
        times.append(time.perf_counter() - t0)
        extractor.close()
    return times


def latency(rounds: int, cache: Path) -> tuple[float, float]:
    extractor = FeatureExtractor(cache_dir=cache)
    model, _ = teach(class_samples(10), extractor)
    save_taught(model, "bench-taught", cache_dir=cache)
    clf = load_model("bench-taught", cache_dir=cache)
    image = cv2.resize(cv2.imread(str(DATA / "zidane.jpg")), (640, 480))
    calls = {"model": [], "extractor": []}
    for fn in (lambda: clf(image, TaskOptions(top=3)), lambda: extractor.features(image)):
        fn()  # warm up
    for _ in range(rounds):
        for name, fn in (("model", lambda: clf(image, TaskOptions(top=3))),
                         ("extractor", lambda: extractor.features(image))):
            t0 = time.perf_counter()
            for _ in range(20):
                fn()
            calls[name].append((time.perf_counter() - t0) / 20 * 1e3)
    return statistics.median(calls["model"]), statistics.median(calls["extractor"])


def digits_accuracy(cache: Path) -> float | None:
    data = np.load(DATA / "digits_400.npz")
    images, y = data["images"], data["labels"].astype(np.int64)
    extractor = FeatureExtractor(cache_dir=cache)
    x = np.stack([extractor.features(cv2.cvtColor(255 - a, cv2.COLOR_GRAY2BGR)) for a in images])
    train = np.concatenate([np.flatnonzero(y == d)[:30] for d in range(10)])
    test = np.setdiff1d(np.arange(len(y)), train)
    return evaluate(fit_head(x[train], y[train], 10), x[test], y[test], 10).accuracy


def cifar_leave_one_out(cache: Path) -> tuple[int, int]:
    files = sorted((DATA / "cifar10").glob("*.png"))
    y = np.array([int(f.stem.rsplit("_", 1)[1]) for f in files])
    extractor = FeatureExtractor(cache_dir=cache)
    x = np.stack([extractor.features(cv2.imread(str(f))) for f in files])
    right = 0
    for i in range(len(files)):
        rest = np.setdiff1d(np.arange(len(files)), [i])
        head = fit_head(x[rest], y[rest], 10)
        right += int(head.probabilities(x[i:i + 1])[0].argmax() == y[i])
    return right, len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="bench-teach-"))
    print(f"CPUs: {os.cpu_count()}, rounds: {args.rounds}\n")
    times = training(args.rounds, cache)
    print("| training 4 classes × 30 samples (incl. features) | median s | rounds |\n|---|---|---|")
    print(f"| teach() | {statistics.median(times):.2f} | {', '.join(f'{t:.2f}' for t in times)} |\n")
    model_ms, extractor_ms = latency(args.rounds, cache)
    print("| per 640×480 image | median ms |\n|---|---|")
    print(f"| extractor alone | {extractor_ms:.2f} |\n| taught model end to end | {model_ms:.2f} |")
    print(f"| ratio (target ≤ 1.5) | {model_ms / extractor_ms:.2f}× |\n")
    digits = digits_accuracy(cache)
    right, total = cifar_leave_one_out(cache)
    print("| held-out accuracy | value |\n|---|---|")
    print(f"| UCI digits, 30 per class train / 10 per class test (100 images) | {digits:.1%} |")
    print(f"| CIFAR-10, 20 test images, leave one out | {right}/{total} = {right / total:.0%} |")


if __name__ == "__main__":
    main()
