"""Segmentation per frame: the shipped selfie segmentation's stages and the mask drawn, with YOLOX-nano as the
reference in the same run.

On tests/data/zidane.jpg (1280×720) and the same photo at 640×360 (a stream's size):

* stages — prepare / infer / postprocess p50 in ms (postprocess = the class map at the image's size, the
  outlines and the areas);
* end-to-end — JPEG bytes → decode → the task's stages → JSON payload, p50 / p90 in ms, and its ratio to
  YOLOX-nano's end-to-end on the same image;
* drawn — visioncast.draw.draw_result of the result (mask filled, outline, tag), p50 in ms.

Tasks take turns of 10 runs so that load from other processes falls on all of them alike; the probe of
bench/contention.py is printed before and after. Short by design (the machine is shared): the ratios are the
figures to compare. Asserts nothing.

    python bench/bench_segment.py [--runs 50]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from contention import describe, machine, probe

from visioncast.core.payload import result_to_payload
from visioncast.draw import draw_result
from visioncast.models import load_model
from visioncast.sources.image import decode_image
from visioncast.tasks import Task, run_stages

ROOT = Path(__file__).resolve().parents[1]
TURN = 10


def jpeg_of(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def one_run(task: Task, jpeg: bytes) -> tuple[float, dict[str, float], float]:
    t0 = time.perf_counter()
    image = decode_image(jpeg)
    result = run_stages(task, image)
    result_to_payload(result)
    total = (time.perf_counter() - t0) * 1e3
    t1 = time.perf_counter()
    draw_result(image, result)
    return total, result.timings_ms, (time.perf_counter() - t1) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    print(machine())
    print("before:", describe(probe()))
    photo = cv2.imread(str(ROOT / "tests" / "data" / "zidane.jpg"))
    images = {"1280×720": jpeg_of(photo), "640×360": jpeg_of(cv2.resize(photo, (640, 360)))}
    tasks = {"selfie-segmentation": load_model("selfie-segmentation"), "yolox-nano": load_model("yolox-nano")}
    runs: dict[tuple[str, str], list] = {(t, i): [] for t in tasks for i in images}
    for t, i in runs:
        one_run(tasks[t], images[i])  # warm-up
    for _ in range(max(1, args.runs // TURN)):
        for (t, i), out in runs.items():
            out += [one_run(tasks[t], images[i]) for _ in range(TURN)]
    print("after:", describe(probe()))
    print(f"\n{args.runs} runs per case, cases interleaved in turns of {TURN}\n")
    print("| model | image | prepare / infer / postprocess p50 ms | end-to-end p50 / p90 ms | vs yolox-nano "
          "| drawn p50 ms |")
    print("|---|---|---|---|---|---|")
    for (t, i), out in runs.items():
        e2e = np.percentile([o[0] for o in out], [50, 90])
        ref = float(np.median([o[0] for o in runs[("yolox-nano", i)]]))
        stages = " / ".join(f"{np.median([o[1][k] for o in out]):.1f}"
                            for k in ("preprocess", "inference", "postprocess"))
        drawn = np.median([o[2] for o in out])
        print(f"| {t} | {i} | {stages} | {e2e[0]:.1f} / {e2e[1]:.1f} | {e2e[0] / ref:.2f}× | {drawn:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
