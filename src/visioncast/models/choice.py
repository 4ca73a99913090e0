"""``--engine auto``: measure the engines on a model at its first load; keep the fastest per model and
machine. I/O: reads the shipped samples and the model file, reads and writes ``engines.json`` in the
model cache.

Candidates (:func:`candidates`): onnxruntime f32 (the reference); OpenVINO f32; OpenVINO bf16 where the CPU
has bf16 units (OpenVINO's ``OPTIMIZATION_CAPABILITIES``). A file whose convolutions are dynamically
int8-quantised is computed in f32 on its float weights for the reference (runtimes/dequantize.py), and its
int8 execution as the file says is one more candidate on each engine. Each candidate's answers on the shipped
samples are compared with the reference's within its precision's bound (:data:`BOUNDS`, measured, with
headroom); one that does not agree is never chosen. The agreeing ones are timed on the same prepared frame,
through the async queue the pipeline and the server use, in alternating rounds, and the lowest **CPU-ms per
image** wins: on a machine shared with other work that is the figure contention moves least, and on a busy
server it is what decides the throughput. The choice is stored under the file's SHA-256 and a machine key (CPU
model, CPUs available, engine versions) and used from then on; ``visioncast models`` lists it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from visioncast.atomic import write_atomic
from visioncast.core.types import Detections, Result
from visioncast.errors import ModelError
from visioncast.runtimes import default_threads, engines_here
from visioncast.sources.image import read_image

log = logging.getLogger(__name__)
CACHE_NAME = "engines.json"
SAMPLES = resources.files("visioncast") / "samples"
TIME_S = 0.5  # timed per candidate and round (at least MIN_RUNS images)
MIN_RUNS = 3
ROUNDS = 2


@dataclass(frozen=True)
class Agreement:
    """How far a candidate's answers may be from the reference's: box edges within max(px, frac × the box's
    longer side), scores within ``score``, for every detection scoring ≥ ``min_score`` on either side;
    classifications: the same top label, its probability within ``score``."""

    px: float
    frac: float
    score: float
    min_score: float = 0.35


# f32 on another engine: ±1 px, ±0.01 (tests/integration/test_engine_agreement.py). bf16: 13.1 px on a 788-px
# box (1.7 %) and 0.063 in score measured on YOLOX-nano (docs/benchmarks.md). int8 (a file's dynamic
# quantisation) against its float weights: 15.2 px on a 401-px box, 4.5 % of a side, 0.073 in score on the
# int8 YOLOv8n over the samples, bus.jpg, zidane.jpg and 10 vtest frames (docs/engines.md).
BOUNDS = {"f32": Agreement(1.0, 0.0, 0.01), "bf16": Agreement(4.0, 0.03, 0.08),
          "int8": Agreement(4.0, 0.06, 0.1)}


@dataclass(frozen=True)
class Candidate:
    """An engine with the precision of its float layers; ``dequantize``: a dynamically quantised file on its
    float weights; ``int8``: such a file's int8 convolutions as they are."""

    engine: str
    precision: str = "f32"
    dequantize: bool = False
    int8: bool = False

    @property
    def label(self) -> str:
        return f"{self.engine} {'int8' if self.int8 else self.precision}" + \
            (" (float weights)" if self.dequantize else "")

    @property
    def bound(self) -> Agreement:
        return BOUNDS["int8" if self.int8 else self.precision]


@dataclass(frozen=True)
class EngineChoice:
    """The chosen candidate with what was measured: CPU-ms per image and agreement notes per candidate."""

    engine: str
    precision: str
    dequantize: bool
    int8: bool = False
    cpu_ms: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    measured: str = ""

    @property
    def candidate(self) -> Candidate:
        return Candidate(self.engine, self.precision, self.dequantize, self.int8)

    @property
    def label(self) -> str:
        return self.candidate.label

    def describe(self) -> str:
        """'openvino bf16 (auto: 12.1 CPU-ms per image; onnxruntime f32 20.3, …)'."""
        others = ", ".join(f"{k} {v:.1f}" for k, v in self.cpu_ms.items() if k != self.label)
        own = self.cpu_ms.get(self.label)
        return f"{self.label} (auto: {own:.1f} CPU-ms per image" + (f"; {others})" if others else ")") \
            if own is not None else f"{self.label} (auto)"


_MEMO: dict[str, EngineChoice] = {}
_LOCK = threading.Lock()


def machine_key() -> str:
    """CPU model, CPUs available and engine versions: a choice holds for these only."""
    cpu = platform.processor() or platform.machine()
    if sys.platform.startswith("linux"):  # the model name; elsewhere platform.processor() says it
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}; {default_threads()} CPUs; {engines_here()[0]}"


def candidates(model_path: Path) -> list[Candidate]:
    """What can run ``model_path`` here (see the module docstring); the reference first."""
    versions, bf16 = engines_here()
    engines = ["onnxruntime", "openvino"] if "openvino" in versions else ["onnxruntime"]
    quantized = b"ConvInteger" in model_path.read_bytes()
    out = [Candidate(e, "f32", quantized) for e in engines]
    if bf16:
        out.append(Candidate("openvino", "bf16", quantized))
    if quantized:
        out += [Candidate(e, "f32", False, True) for e in engines]
    return out


def cache_key(model_path: Path) -> str:
    return f"{hashlib.sha256(model_path.read_bytes()).hexdigest()[:20]} | {machine_key()}"


def cached_choice(model_path: Path, cache_dir: Path | None) -> EngineChoice | None:
    """The stored choice for this file on this machine, or None (not measured yet)."""
    key = cache_key(model_path)
    with _LOCK:
        if key in _MEMO:
            return _MEMO[key]
    entry = _read_cache(cache_dir).get(key)
    return EngineChoice(**entry) if isinstance(entry, dict) else None


def _read_cache(cache_dir: Path | None) -> dict[str, Any]:
    path = cache_dir / CACHE_NAME if cache_dir is not None else None
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        log.warning("ignoring '%s': not valid JSON (the engines are measured again)", path)
        return {}
    return data if isinstance(data, dict) else {}


def _store(cache_dir: Path | None, key: str, choice: EngineChoice) -> None:
    with _LOCK:
        _MEMO[key] = choice
        if cache_dir is None:
            return
        data = _read_cache(cache_dir)
        data[key] = asdict(choice)
        cache_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(cache_dir / CACHE_NAME, json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))


def sample_images() -> list[np.ndarray]:
    return [read_image(Path(str(SAMPLES / name))) for name in sorted(
        p.name for p in Path(str(SAMPLES)).iterdir() if p.suffix in (".jpg", ".png"))]


def disagreement(ref: Result, got: Result, bound: Agreement) -> str:
    """'' when ``got`` agrees with ``ref`` within ``bound``, else what differs first."""
    if ref.classification is not None and got.classification is not None:
        a, b = ref.classification, got.classification
        if a.top_label != b.top_label:
            return f"top class {b.top_label!r} instead of {a.top_label!r}"
        diff = abs(float(a.score[0]) - float(b.score[0]))
        return f"top probability off by {diff:.3f}" if diff > bound.score else ""
    if ref.detections is None or got.detections is None:
        return "no result to compare"
    return _unmatched(ref.detections, got.detections, bound) or _unmatched(got.detections, ref.detections,
                                                                            bound)


def _unmatched(a: Detections, b: Detections, bound: Agreement) -> str:
    for i in np.flatnonzero(a.score >= bound.min_score):
        partners = [j for j in range(len(b)) if b.labels[j] == a.labels[i]]
        if not partners:
            return f"{a.labels[i]} {a.score[i]:.2f} has no partner"
        dev = [float(np.abs(a.xyxy[i] - b.xyxy[j]).max()) for j in partners]
        j = partners[int(np.argmin(dev))]
        side = float(max(a.xyxy[i][2] - a.xyxy[i][0], a.xyxy[i][3] - a.xyxy[i][1]))
        if min(dev) > max(bound.px, bound.frac * side):
            return f"{a.labels[i]} box off by {min(dev):.1f} px"
        if abs(float(a.score[i] - b.score[j])) > bound.score:
            return f"{a.labels[i]} score {a.score[i]:.3f} vs {b.score[j]:.3f}"
    return ""


def cpu_ms_per_image(task: Any, image: np.ndarray, seconds: float = TIME_S) -> float:
    """Process CPU time per image of ``task``'s runtime on the async queue (its optimal jobs), one frame."""
    feeds = task.prepare(image).feeds
    with task.runtime.open_async(0, lambda outputs, userdata: None) as jobs:
        jobs.submit(feeds)
        jobs.wait_all()
        n, c0, t0 = 0, time.process_time(), time.perf_counter()
        while n < MIN_RUNS or time.perf_counter() - t0 < seconds:
            jobs.submit(feeds, n)
            n += 1
        jobs.wait_all()
        return 1000 * (time.process_time() - c0) / n


def choose(model_path: Path, build: Callable[[Candidate], Any], cache_dir: Path | None) -> tuple[EngineChoice,
                                                                                                   Any]:
    """The stored choice for ``model_path`` here, else measure every candidate (``build`` loads the task on
    one) and store the fastest that agrees; returns (choice, the task built on it)."""
    found = cached_choice(model_path, cache_dir)
    if found is not None:
        return found, build(found.candidate)
    listed = candidates(model_path)
    if len(listed) == 1:  # onnxruntime alone (no OpenVINO here): nothing to measure or compare
        only = listed[0]
        choice = EngineChoice(only.engine, only.precision, only.dequantize, only.int8, {}, {},
                              time.strftime("%Y-%m-%d %H:%M"))
        _store(cache_dir, cache_key(model_path), choice)
        return choice, build(only)
    images = sample_images()
    tasks: dict[Candidate, Any] = {}
    rejected: dict[str, str] = {}
    reference: list[Result] = []
    for cand in listed:
        try:
            task = build(cand)
        except ModelError as exc:
            rejected[cand.label] = f"cannot load: {exc}"
            continue
        results = [task(image) for image in images]
        if not reference:
            reference = results
        problem = next((p for r, g in zip(reference, results, strict=True)
                        if (p := disagreement(r, g, cand.bound))), "")
        if problem:
            rejected[cand.label] = f"disagrees with the f32 reference on the samples: {problem}"
            task.runtime.close()
            continue
        tasks[cand] = task
    if not tasks:
        raise ModelError(f"no engine could load '{model_path.name}': {rejected}")
    timing: dict[Candidate, list[float]] = {c: [] for c in tasks}
    for r in range(ROUNDS):
        for cand in (list(tasks) if r % 2 == 0 else list(reversed(tasks))):
            timing[cand].append(cpu_ms_per_image(tasks[cand], images[0]))
    cpu_ms = {c.label: round(float(np.median(v)), 2) for c, v in timing.items()}
    best = min(tasks, key=lambda c: cpu_ms[c.label])
    for cand, task in tasks.items():
        if cand != best:
            task.runtime.close()
    choice = EngineChoice(best.engine, best.precision, best.dequantize, best.int8, cpu_ms, rejected,
                          time.strftime("%Y-%m-%d %H:%M"))
    _store(cache_dir, cache_key(model_path), choice)
    log.info("engine auto for %s: %s", model_path.name, choice.describe())
    return choice, tasks[best]
