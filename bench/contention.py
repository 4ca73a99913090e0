"""Is the machine quiet enough for the figures? A 1.5-second probe to print beside every benchmark round.

It runs the shipped YOLOX-nano on one 2-intra-op-thread onnxruntime session and on a 1-thread session, back
to back on a fixed tensor, and reports runs/s of each and their ratio (the *scaling*). Splitting one image
over both cores needs both at once: on a quiet 2-core machine the scaling was 1.5–1.7× (sessions 3–4);
when something outside the process takes a core part of the time it falls to 1.3× and below (0.85× seen in
session 4), and every figure that splits an image over both cores (ultralytics, sync model-only, the naive
loop, the server's latency session) drops far more than one-thread-per-image work does. Ratios measured in
such rounds flatter visioncast. The probe is a hint, not a filter: contention comes in bursts of seconds, so a
probe before a round does not tell how quiet the round itself was (session 4: after a "quiet" probe
ultralytics ran at 11 FPS, after a "contended" one at 17).
"""

from __future__ import annotations

import os
import time

import numpy as np
import onnxruntime as ort

from visioncast.models.registry import DATA

QUIET_SCALING = 1.4  # at or above: quiet at the moment of the probe (see the module docstring)
_SESSIONS: dict[int, ort.InferenceSession] = {}


def _session(threads: int) -> ort.InferenceSession:
    if threads not in _SESSIONS:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        _SESSIONS[threads] = ort.InferenceSession(str(DATA / "yolox_nano_416_coco.onnx"), opts,
                                                  providers=["CPUExecutionProvider"])
    return _SESSIONS[threads]


def _rate(threads: int, seconds: float) -> float:
    session = _session(threads)
    feeds = {session.get_inputs()[0].name: np.full((1, 3, 416, 416), 114.0, np.float32)}
    session.run(None, feeds)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        session.run(None, feeds)
        n += 1
    return n / (time.perf_counter() - t0)


def probe(seconds: float = 0.75) -> tuple[float, float, float]:
    """(2-thread runs/s, 1-thread runs/s, scaling = their ratio)."""
    two, one = _rate(2, seconds), _rate(1, seconds)
    return two, one, two / one


def describe(result: tuple[float, float, float]) -> str:
    two, one, scaling = result
    verdict = "quiet" if scaling >= QUIET_SCALING else "CONTENDED"
    return f"probe 2-thread {two:.0f}/s, 1-thread {one:.0f}/s, scaling {scaling:.2f}× ({verdict})"


def machine() -> str:
    """'machine: 2 CPUs, 2 available; load average 0.7, 0.9, 1.2' for the head of a benchmark's output."""
    return (f"machine: {os.cpu_count()} CPUs, {len(os.sched_getaffinity(0))} available; "
            f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    print(describe(probe()))
