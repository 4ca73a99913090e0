"""Small faces: the smallest face found and the cost of each face setting, against the stream size (640).

On tests/data/small_faces.jpg (1441×731, a scaled-down crowd of 32 faces 7–81 px wide; OpenCV's own
FaceDetectorYN at full size finds 28, the smallest 10 px) and on the same photo enlarged 2.5× (3603×1828, so a
still larger than the 1920-px cap: tiled), each setting of the face task is run in alternating rounds:

* stream, 640 / 960 / 1280 — one pass with the longest side at that size (``models.face_size``; the
  pipeline's task, ``for_stream()``);
* photo (default) — the still task: the photo's own resolution up to 1920 px, tiled beyond, plus the pass at
  640 for big faces (``models.face_max_side`` = 1920);
* photo, cap 960 — the same with tiles of at most 960 px.

Printed per photo: faces found, the smallest face's width in pixels, median ms per image (prepare + model
calls + postprocess) and the ratio to the 640-px stream pass in the same rounds; bench/contention.py's probe
before and after. Asserts nothing.

    python bench/bench_small_faces.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from contention import describe, machine, probe

from visioncast.models import load_model
from visioncast.tasks.base import Task, run_stages
from visioncast.tasks.face import YuNetFace

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "stream, 640"


def settings(yunet: YuNetFace) -> dict[str, Task]:
    runtime = yunet.model_runtime
    return {
        BASELINE: yunet.for_stream(),
        "stream, 960": YuNetFace(runtime, stream_side=960).for_stream(),
        "stream, 1280": YuNetFace(runtime, stream_side=1280).for_stream(),
        "photo (default: full size ≤ 1920, tiled beyond)": yunet,
        "photo, cap 960 (tiled)": YuNetFace(runtime, max_side=960),
    }


def timed(task: Task, image: np.ndarray) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    dets = run_stages(task, image).detections
    elapsed = (time.perf_counter() - t0) * 1e3
    assert dets is not None
    return elapsed, np.sort(dets.xyxy[:, 2] - dets.xyxy[:, 0])


def bench_photo(title: str, image: np.ndarray, tasks: dict[str, Task], rounds: int) -> None:
    times: dict[str, list[float]] = {name: [] for name in tasks}
    found: dict[str, np.ndarray] = {}
    for task in tasks.values():  # warm-up
        timed(task, image)
    for _ in range(rounds):
        for name, task in tasks.items():
            ms, found[name] = timed(task, image)
            times[name].append(ms)
    base = float(np.median(times[BASELINE]))
    h, w = image.shape[:2]
    print(f"\n{title} ({w}×{h}), {rounds} alternating rounds\n")
    print("| setting | passes | faces | smallest (px) | median ms | vs stream 640 |")
    print("|---|---|---|---|---|---|")
    for name, task in tasks.items():
        passes = len(task.passes(w, h)) if isinstance(task, YuNetFace) else 1
        smallest = f"{found[name][0]:.0f}" if len(found[name]) else "-"
        median = float(np.median(times[name]))
        row = (name, passes, len(found[name]), smallest, f"{median:.0f}", f"{median / base:.1f}×")
        print("| " + " | ".join(map(str, row)) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(machine())
    print("before:", describe(probe()))
    yunet = load_model("yunet")
    assert isinstance(yunet, YuNetFace)
    tasks = settings(yunet)
    photo = cv2.imread(str(ROOT / "tests" / "data" / "small_faces.jpg"))
    bench_photo("small_faces.jpg", photo, tasks, args.rounds)
    large = cv2.resize(photo, None, fx=2.5, fy=2.5, interpolation=cv2.INTER_CUBIC)
    bench_photo("small_faces.jpg enlarged 2.5×", large, tasks, max(1, args.rounds // 2))
    print("\nafter:", describe(probe()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
