"""Every person's pose: what people-pose costs per person, against its two parts in the same rounds.

On photos with 1, 2, 3 and 8 people (tests/data/squat.jpg, zidane.jpg, bus.jpg, and zidane.jpg four times in
a 2×2 mosaic), in alternating rounds, median ms per image (prepare + model calls + postprocess):

* people-pose — YOLOX-nano's people, then MoveNet on each person's square (the default pose model);
* yolox-nano alone — the person detector, the fixed part of the cost (the baseline);
* movenet-lightning alone — one person from the whole image (the stream follower's path).

The per-person cost is (people-pose − yolox-nano) / people. bench/contention.py's probe before and after.
Asserts nothing.

    python bench/bench_people_pose.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from contention import describe, machine, probe

from visioncast.models import load_model
from visioncast.tasks.base import Task, TaskOptions, run_stages

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
PEOPLE = TaskOptions(classes=(0,), conf=0.3)  # the detector alone, as people-pose asks it


def photos() -> dict[str, np.ndarray]:
    zidane = cv2.imread(str(DATA / "zidane.jpg"))
    mosaic = np.vstack([np.hstack([zidane, zidane]), np.hstack([zidane, zidane])])
    return {"squat.jpg": cv2.imread(str(DATA / "squat.jpg")), "zidane.jpg": zidane,
            "bus.jpg": cv2.imread(str(DATA / "bus.jpg")), "zidane.jpg ×4 (2×2)": mosaic}


def timed(task: Task, image: np.ndarray, options: TaskOptions | None = None) -> tuple[float, int]:
    t0 = time.perf_counter()
    dets = run_stages(task, image, options).detections
    assert dets is not None
    return (time.perf_counter() - t0) * 1e3, len(dets)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    print(machine())
    print("before:", describe(probe()))
    tasks = {"people-pose": (load_model("people-pose"), None),
             "yolox-nano": (load_model("yolox-nano"), PEOPLE),
             "movenet-lightning": (load_model("movenet-lightning"), None)}
    images = photos()
    times = {(p, t): [] for p in images for t in tasks}
    found: dict[str, int] = {}
    for image in images.values():  # warm-up
        for task, options in tasks.values():
            timed(task, image, options)
    for _ in range(args.rounds):
        for photo, image in images.items():
            for name, (task, options) in tasks.items():
                ms, n = timed(task, image, options)
                times[(photo, name)].append(ms)
                if name == "people-pose":
                    found[photo] = n
    print(f"\n{args.rounds} alternating rounds; median ms per image\n")
    print("| photo | people found | people-pose | yolox-nano alone | movenet-lightning alone | per person |")
    print("|---|---|---|---|---|---|")
    for photo in images:
        med = {name: float(np.median(times[(photo, name)])) for name in tasks}
        per = (med["people-pose"] - med["yolox-nano"]) / max(1, found[photo])
        print(f"| {photo} | {found[photo]} | {med['people-pose']:.1f} | {med['yolox-nano']:.1f} | "
              f"{med['movenet-lightning']:.1f} | {per:.1f} |")
    print("\nafter:", describe(probe()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
