"""Pose and face models: model-only and end-to-end latency, with YOLOX-nano as the reference in the same run.

For each shipped model on its photo (movenet-lightning on tests/data/squat.jpg, yunet on tests/data/zidane.jpg
at its default 640-px side, yolox-nano on bus.jpg for reference):

* model-only — ``runtime.run`` (what ``task.infer`` does) on already prepared feeds, p50 / p90 in ms;
* end-to-end — JPEG bytes → decode → prepare → infer → postprocess → JSON payload, p50 / p90 in ms;
* the same end-to-end with MoveNet's crop-and-refine on (a follower), and YuNet on the full 1280×720 frame.

Models take turns of 10 runs so that load from other processes falls on all of them alike; the probe of
bench/contention.py is printed before and after. Short by design (the machine is shared): figures are
indicative, the ratios to YOLOX-nano in the same run are the figures to compare. Asserts nothing.

    python bench/bench_pose_face.py [--runs 100]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from contention import describe, machine, probe

from visioncast.core.payload import result_to_payload
from visioncast.models import load_model
from visioncast.sources.image import decode_image
from visioncast.tasks.face import YuNetFace

ROOT = Path(__file__).resolve().parents[1]
TURN = 10


def cases() -> dict[str, tuple[Callable, bytes]]:
    data = ROOT / "tests" / "data"
    movenet, yunet, yolox = load_model("movenet-lightning"), load_model("yunet"), load_model("yolox-nano")
    assert isinstance(yunet, YuNetFace)
    return {
        "movenet-lightning": (movenet, (data / "squat.jpg").read_bytes()),
        "movenet-lightning, follow": (movenet.for_stream(),  # type: ignore[union-attr]
                                      (data / "squat.jpg").read_bytes()),
        "yunet (640 side)": (yunet.for_stream(), (data / "zidane.jpg").read_bytes()),
        "yunet (full 1280×720)": (YuNetFace(yunet.model_runtime, name="yunet", stream_side=10_000),
                                  (data / "zidane.jpg").read_bytes()),
        "yolox-nano (reference)": (yolox, (data / "bus.jpg").read_bytes()),
    }


def end_to_end(task: Callable, jpeg: bytes) -> float:
    t0 = time.perf_counter()
    result_to_payload(task(decode_image(jpeg)))
    return (time.perf_counter() - t0) * 1e3


def model_only(task: Callable, feeds: dict[str, np.ndarray]) -> float:
    t0 = time.perf_counter()
    task.runtime.run(feeds)  # type: ignore[attr-defined]
    return (time.perf_counter() - t0) * 1e3


def feeds_of(task: Callable, jpeg: bytes) -> dict[str, np.ndarray]:
    """The prepared feeds (Detector before the engine work: its decoder prepares)."""
    image = decode_image(jpeg)
    if hasattr(task, "prepare"):
        return task.prepare(image).feeds  # type: ignore[no-any-return]
    return task.decoder.prepare(image)[0]  # type: ignore[attr-defined,no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    print(machine())
    print("before:", describe(probe()))
    runs = cases()
    feeds = {name: feeds_of(task, jpeg) for name, (task, jpeg) in runs.items()}
    model: dict[str, list[float]] = {name: [] for name in runs}
    e2e: dict[str, list[float]] = {name: [] for name in runs}
    for task, jpeg in runs.values():  # warm-up
        end_to_end(task, jpeg)
    for _ in range(max(1, args.runs // TURN)):
        for name, (task, jpeg) in runs.items():
            model[name] += [model_only(task, feeds[name]) for _ in range(TURN)]
            e2e[name] += [end_to_end(task, jpeg) for _ in range(TURN)]
    print("after:", describe(probe()))
    ref = float(np.median(e2e["yolox-nano (reference)"]))
    print(f"\n{args.runs} runs per model, models interleaved in turns of {TURN}\n")
    print("| model | model-only p50 / p90 ms | end-to-end p50 / p90 ms | end-to-end vs yolox-nano |")
    print("|---|---|---|---|")
    for name in runs:
        m, e = np.percentile(model[name], [50, 90]), np.percentile(e2e[name], [50, 90])
        print(f"| {name} | {m[0]:.2f} / {m[1]:.2f} | {e[0]:.2f} / {e[1]:.2f} | {e[0] / ref:.2f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
