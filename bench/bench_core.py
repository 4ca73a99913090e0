"""Core inference benchmark: ONNX Runtime vs OpenVINO f32 vs OpenVINO bf16, side by side in one process.

For the shipped detector (yolox-nano) and classifier (resnet56-cifar10) on one image (tests/data/bus.jpg):

* model-only latency — ``runtime.run`` on an already prepared tensor, p50/p99 in ms;
* end-to-end latency — JPEG bytes → decode → detect/classify → JSON payload, p50/p99 in ms;
* async throughput — images/s with every engine's own parallelism: OpenVINO's AsyncInferQueue on a
  THROUGHPUT-hinted model, ONNX Runtime as N threads each running its own 1-thread session concurrently
  (N = CPUs available to the process);
* ratios against the ONNX Runtime model-only p50 (the baseline), and how far each engine's boxes and scores
  move from ONNX Runtime's (the accuracy price of bf16).

The engines take turns of 20 runs so that load from other processes falls on all of them alike; the
absolute figures still depend on that load, the ratios much less. Prints a Markdown table; asserts nothing.

    python bench/bench_core.py [--image PATH] [--repeat 200] [--async-images 400]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from visioncast.core.payload import result_to_payload
from visioncast.models import load_model
from visioncast.models.registry import find_model
from visioncast.runtimes import default_threads, open_runtime
from visioncast.sources.image import decode_image
from visioncast.tasks.base import TaskOptions

ROOT = Path(__file__).resolve().parents[1]
ENGINES = (("ORT", "onnxruntime", "f32"), ("OV f32", "openvino", "f32"), ("OV bf16", "openvino", "bf16"))


@dataclass
class Row:
    """Measurements of one (model, engine) pair; times in ms."""

    model: str
    engine: str
    model_ms: list[float] = field(default_factory=list)
    e2e_ms: list[float] = field(default_factory=list)
    async_ips: float = 0.0
    async_jobs: int = 0
    box_dev_px: float = 0.0
    score_dev: float = 0.0


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def interleaved(fns: list[Callable[[], object]], repeat: int, block: int = 20) -> list[list[float]]:
    """ms per call of each function, ``repeat`` timed calls each, taken in turns of ``block`` calls.

    Turns of a block (each opened by 3 untimed calls) rather than call by call: ONNX Runtime's worker threads
    spin for a while after a run and would otherwise slow down whichever engine runs next on the 2 cores.
    """
    out: list[list[float]] = [[] for _ in fns]
    while len(out[0]) < repeat:
        n = min(block, repeat - len(out[0]))
        for k, fn in enumerate(fns):
            for _ in range(3):
                fn()
            out[k].extend(timed(fn) for _ in range(n))
    return out


def load_all(name: str) -> list:
    return [load_model(name, engine=engine, precision=precision) for _, engine, precision in ENGINES]


def prepared_feeds(task: object, image: np.ndarray) -> dict[str, np.ndarray]:
    """The model-input tensors of ``image`` for a Detector or a Classifier."""
    if hasattr(task, "decoder"):
        return task.prepare(image).feeds
    return {task.runtime.inputs[0].name: task.preprocess(image)}


def end_to_end(task: object, data: bytes) -> Callable[[], object]:
    """JPEG bytes → decode → infer → payload JSON, as every channel does it."""
    infer = task.detect if hasattr(task, "detect") else task.classify

    def run() -> str:
        return json.dumps(result_to_payload(infer(decode_image(data, name="bench image"))))
    return run


def ov_async_throughput(task: object, feeds: dict[str, np.ndarray], count: int) -> tuple[float, int]:
    """Images/s through OpenVINO's AsyncInferQueue (THROUGHPUT hint, optimal number of jobs)."""
    done = []
    with task.runtime.open_async(0, lambda outputs, i: done.append(i)) as queue:
        for i in range(min(count, 2 * queue.jobs)):  # warm-up: every job runs at least once
            queue.submit(feeds, i)
        queue.wait_all()
        done.clear()
        t0 = time.perf_counter()
        for i in range(count):
            queue.submit(feeds, i)
        queue.wait_all()
        elapsed = time.perf_counter() - t0
    if len(done) != count:
        raise RuntimeError(f"async queue delivered {len(done)} of {count} results")
    return count / elapsed, queue.jobs


def ort_threaded_throughput(path: Path, feeds: dict[str, np.ndarray], count: int) -> tuple[float, int]:
    """Images/s with N threads, each running its own 1-thread ONNX Runtime session concurrently."""
    workers = default_threads()
    sessions = [open_runtime(path, "onnxruntime", threads=1) for _ in range(workers)]
    for s in sessions:
        s.run(feeds)
    share = [count // workers + (1 if k < count % workers else 0) for k in range(workers)]
    threads = [threading.Thread(target=lambda s=s, n=n: [s.run(feeds) for _ in range(n)])
               for s, n in zip(sessions, share, strict=True)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for s in sessions:
        s.close()
    return count / elapsed, workers


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return float(w * h / union) if union > 0 else 0.0


def deviation(reference: object, other: object, image: np.ndarray) -> tuple[float, float]:
    """Largest box-edge (px) and score differences of ``other`` against ``reference`` on ``image``.

    Each reference detection is paired with the same-label detection it overlaps most; classifiers compare
    all class probabilities.
    """
    if hasattr(reference, "detect"):
        a, b = reference(image).detections, other(image).detections
        box = score = 0.0
        for i in range(len(a)):
            same = [j for j in range(len(b)) if b.labels[j] == a.labels[i]]
            if not same:
                return float("inf"), float("inf")
            j = max(same, key=lambda j: _iou(a.xyxy[i], b.xyxy[j]))
            box = max(box, float(np.abs(a.xyxy[i] - b.xyxy[j]).max()))
            score = max(score, abs(float(a.score[i] - b.score[j])))
        return box, score
    ca = reference(image, TaskOptions(top=100)).classification
    cb = other(image, TaskOptions(top=100)).classification
    pa, pb = ca.score[np.argsort(ca.class_id)], cb.score[np.argsort(cb.class_id)]
    return 0.0, float(np.abs(pa - pb).max())


def measure_async(rows: list[Row], tasks: list, feeds: list[dict[str, np.ndarray]], count: int,
                  rounds: int = 3) -> None:
    """Median images/s over ``rounds`` turns, the engines alternating (ORT threads first, then OpenVINO)."""
    path = find_model(tasks[0].name).path
    samples: list[list[float]] = [[] for _ in rows]
    for _ in range(rounds):
        ips, rows[0].async_jobs = ort_threaded_throughput(path, feeds[0], count // rounds)
        samples[0].append(ips)
        for k in range(1, len(rows)):
            ips, rows[k].async_jobs = ov_async_throughput(tasks[k], feeds[k], count // rounds)
            samples[k].append(ips)
    for row, values in zip(rows, samples, strict=True):
        row.async_ips = float(np.median(values))


def bench_model(name: str, data: bytes, repeat: int, async_images: int) -> list[Row]:
    tasks = load_all(name)
    image = decode_image(data, name="bench image")
    feeds = [prepared_feeds(t, image) for t in tasks]
    rows = [Row(name, label) for label, _, _ in ENGINES]
    model_times = interleaved([lambda t=t, f=f: t.runtime.run(f) for t, f in zip(tasks, feeds, strict=True)],
                              repeat)
    e2e_times = interleaved([end_to_end(t, data) for t in tasks], max(20, repeat // 2))
    for row, m, e in zip(rows, model_times, e2e_times, strict=True):
        row.model_ms, row.e2e_ms = m, e
    measure_async(rows, tasks, feeds, async_images)
    for row, task in zip(rows[1:], tasks[1:], strict=True):
        row.box_dev_px, row.score_dev = deviation(tasks[0], task, image)
    return rows


def table(rows: list[Row]) -> str:
    head = ("| model | engine | model-only p50 / p99 ms | end-to-end p50 / p99 ms | async images/s (jobs) "
            "| model-only speed vs ORT | async vs ORT model-only | max box / score dev vs ORT |")
    lines = [head, "|" + "---|" * 8]
    for row in rows:
        base = next(r for r in rows if r.model == row.model and r.engine == "ORT")
        base_p50 = percentile(base.model_ms, 50)
        p50 = percentile(row.model_ms, 50)
        lines.append(
            f"| {row.model} | {row.engine} | {p50:.2f} / {percentile(row.model_ms, 99):.2f} "
            f"| {percentile(row.e2e_ms, 50):.2f} / {percentile(row.e2e_ms, 99):.2f} "
            f"| {row.async_ips:.0f} ({row.async_jobs}) | {base_p50 / p50:.2f}× "
            f"| {row.async_ips * base_p50 / 1000:.2f}× | {row.box_dev_px:.2f} px / {row.score_dev:.4f} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines()
                 if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return f"{cpu}; {default_threads()} CPUs available; load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=ROOT / "tests" / "data" / "bus.jpg")
    parser.add_argument("--repeat", type=int, default=200, help="timed model-only runs per engine")
    parser.add_argument("--async-images", type=int, default=600,
                        help="images per engine for throughput, in 3 rounds")
    args = parser.parse_args()
    data = args.image.read_bytes()
    print(f"machine: {machine()}")
    print(f"image: {args.image.name}; {args.repeat} model-only runs per engine, engines interleaved\n")
    rows = bench_model("yolox-nano", data, args.repeat, args.async_images)
    rows += bench_model("resnet56-cifar10", data, args.repeat, args.async_images)
    print(table(rows))
    print(f"\nafter the run: {machine()}")


if __name__ == "__main__":
    main()
