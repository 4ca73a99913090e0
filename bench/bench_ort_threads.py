"""How to spend 2 cores on one small model with onnxruntime: split each image, or run images side by side.

Back-to-back runs of one input tensor (no pre/post-processing), the configurations taking turns for
``--rounds`` rounds of ``--seconds`` each in one process; medians. This is the measurement behind the two
sessions of ``runtimes/onnx.py`` (docs/engines.md):

* latency session — 1 caller, ``intra_op_num_threads`` = CPUs (spinning on: onnxruntime's default);
* the same with ``session.intra_op.allow_spinning = 0``;
* throughput session — ``intra_op_num_threads = 1`` called from CPUs threads at once (one session), and the
  same with one session per thread;
* 1 caller on a one-thread session (the single-core speed).

    python bench/bench_ort_threads.py [MODEL SIZE ...] [--seconds 4] [--rounds 3]

Default: the shipped yolox-nano (416) and, when present, ../shared/models/yolov8n_int8dyn_640_coco.onnx (640).
Prints a Markdown table; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from visioncast.models.registry import DATA
from visioncast.runtimes import default_threads

YOLOV8N = Path(__file__).resolve().parents[2] / "shared" / "models" / "yolov8n_int8dyn_640_coco.onnx"


def session(path: Path, threads: int, spinning: bool = True) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def images_per_second(
    sessions: list[ort.InferenceSession], callers: int, x: np.ndarray, seconds: float
) -> float:
    name = sessions[0].get_inputs()[0].name
    for s in sessions:
        s.run(None, {name: x})
    done = [0] * callers
    stop = time.perf_counter() + seconds

    def call(i: int) -> None:
        s = sessions[i % len(sessions)]
        while time.perf_counter() < stop:
            s.run(None, {name: x})
            done[i] += 1

    threads = [threading.Thread(target=call, args=(i,)) for i in range(callers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - t0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", help="pairs MODEL SIZE")
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    pairs = list(zip(args.models[::2], map(int, args.models[1::2]), strict=True))
    if not pairs:
        pairs = [(str(Path(str(DATA)) / "yolox_nano_416_coco.onnx"), 416)]
        if YOLOV8N.is_file():
            pairs.append((str(YOLOV8N), 640))
    n = default_threads()
    print(f"{n} CPUs available; onnxruntime {ort.__version__}; {args.rounds} rounds of {args.seconds:g} s\n")
    print(f"| model | 1 caller, {n} intra-op threads (latency) | same, spinning off | {n} callers, one "
          f"1-thread session (throughput) | {n} callers, a session each | 1 caller, 1 thread |")
    print("|---|---|---|---|---|---|")
    for model, size in pairs:
        path = Path(model)
        x = (np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32) * 255).astype(np.float32)
        built = {
            "latency": ([session(path, n)], 1),
            "nospin": ([session(path, n, spinning=False)], 1),
            "throughput": ([session(path, 1)], n),
            "each": ([session(path, 1) for _ in range(n)], n),
            "single": ([session(path, 1)], 1),
        }
        got: dict[str, list[float]] = {k: [] for k in built}
        for _ in range(args.rounds):
            for key, (sessions, callers) in built.items():
                got[key].append(images_per_second(sessions, callers, x, args.seconds))
        med = {k: statistics.median(v) for k, v in got.items()}
        base = med["latency"]
        print(f"| {path.name} ({size}) | " + " | ".join(f"{v:.1f}/s ({v / base:.2f}×)" for v in med.values())
              + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
