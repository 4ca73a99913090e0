"""End-to-end FPS of the edge pipeline on a video, side by side in one process.

For each model (YOLOX-nano, the ultralytics YOLOv8n ONNX export) and engine it measures, on the same frames:

* **pipeline** — visioncast's threaded pipeline (decode ‖ inference ‖ NMS + tracking + counting), every frame;
* **naive** — one thread: read a frame, ``detector(image)``, tracking + counting, next frame;
* **model-only** — the runtime's own throughput on one preprocessed frame, two ways: **async** (its
  ``open_async`` queue with the optimal job count: OpenVINO's infer requests, onnxruntime's
  one-thread-per-call workers) and **sync** (back-to-back ``run`` calls, each using every intra-op thread);
  the pipeline is held to the better of the two;
* **ultralytics** — ``YOLO(onnx).predict(video, stream=True)`` (its own decode, letterbox, ORT, NMS), when
  ultralytics is importable (benchmark-only environment; never a visioncast dependency).

Every contender reads the first ``--frames`` frames of the same file: the video itself (``--codec original``;
vtest.avi is MS-MPEG-4, ≈ 0.8 CPU-ms per 768×576 frame to decode) or those frames re-encoded as an ``MJPG``
or ``mp4v`` AVI (MJPG: ≈ 2.1 CPU-ms per frame), as session 1 and 2 did with MJPG.

Rounds alternate the contenders and the median is kept, because the machine is shared: absolute FPS move with
the neighbours' load, the ratios measured side by side move much less. Each round starts with the contention
probe of ``contention.py``, and the ultralytics ratio is also listed for the rounds where ultralytics ran
unhindered: at ≥ 0.7× the same round's async model-only figure (one-thread-per-image work barely feels
contention; ultralytics' 2-thread inference ran at 0.75–0.84× of it on a quiet machine, 0.4–0.55× on a
contended one in session 4). Usage::

    python bench/bench_pipeline.py [VIDEO] [--frames 300] [--codec original|MJPG|mp4v] [--rounds 3]
                                   [--engines onnxruntime,openvino] [--models yolox-nano,yolov8n]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from contention import describe, probe

from visioncast.analytics import Analytics
from visioncast.config import PipelineConfig, default_cache_dir
from visioncast.models import load_model
from visioncast.models.choice import cached_choice
from visioncast.pipeline.build import open_pipeline
from visioncast.runtimes import Runtime, open_runtime
from visioncast.sinks.bus import Delivery
from visioncast.tasks import Detector
from visioncast.tasks.family import make_decoder
from visioncast.tasks.preprocess import letterbox_image, to_nchw

HERE = Path(__file__).resolve().parent
DEFAULT_VIDEO = Path("/work/shared/media/vtest.avi")  # the session machine's copy (not in the repository)
SHARED = next((p for p in (HERE.parents[1] / "shared", Path("/work/shared")) if p.is_dir()),
              Path("/work/shared"))
YOLOV8N = SHARED / "models" / "yolov8n_int8dyn_640_coco.onnx"  # AGPL: read in place, never copied here
UNHINDERED = 0.7  # ultralytics / async model-only FPS of a round from which its inference ran unslowed


def read_frames(path: Path, limit: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < limit:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames


def clip_file(path: Path, frames: int, out: Path, codec: str = "MJPG") -> Path:
    """The first ``frames`` frames of ``path`` re-encoded with the FourCC ``codec`` as an .avi."""
    images = read_frames(path, frames)
    h, w = images[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*codec), 10, (w, h))
    for image in images:
        writer.write(image)
    writer.release()
    return out


def fps_pipeline(detector: Detector, video: Path, max_frames: int | None = None) -> float:
    pipeline = open_pipeline(str(video), detector, PipelineConfig(mode="every"), name="bench",
                             max_frames=max_frames)
    t0 = time.perf_counter()
    pipeline.run()
    return pipeline.frames_out / (time.perf_counter() - t0)


class _Collect:
    """A sink keeping each frame's boxes, classes, scores and track ids (the pipeline's results)."""

    needs_image = False

    def __init__(self) -> None:
        self.rows: list[tuple[np.ndarray, ...]] = []

    def deliver(self, delivery: Delivery) -> None:
        if delivery.result is not None and delivery.result.detections is not None:
            d = delivery.result.detections
            self.rows.append((d.xyxy, d.score, d.class_id, d.track_id))

    def close(self) -> None:
        pass


def reference_rows(detector: Detector, video: Path, frames: int) -> list[tuple[np.ndarray, ...]]:
    """The naive loop's per-frame results on the model file as it is (NCHW float feeds made in numpy, no
    conversion folded into the graph): what the pipeline must reproduce exactly."""
    runtime, _ = unfolded(detector, video)
    plain = Detector(runtime, make_decoder(runtime, detector.family), detector.labels, name=detector.name)
    analytics, rows = Analytics(source="bench"), []
    for n, image in enumerate(read_frames(video, frames)):
        result, _, _ = analytics.update(plain(image), n, n / 10)
        d = result.detections
        rows.append((d.xyxy, d.score, d.class_id, d.track_id))
    return rows


def check_identical(detector: Detector, video: Path, frames: int) -> str:
    """'identical' when the pipeline's results on every frame equal :func:`reference_rows`, else what
    differs."""
    sink = _Collect()
    pipeline = open_pipeline(str(video), detector, PipelineConfig(mode="every"), name="bench", sinks=[sink],
                             max_frames=frames)
    pipeline.run()
    want = reference_rows(detector, video, frames)
    if len(sink.rows) != len(want):
        return f"DIFFERENT: {len(sink.rows)} frames out of the pipeline, {len(want)} in the reference"
    bad = [i for i, (a, b) in enumerate(zip(sink.rows, want, strict=True))
           if not all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))]
    return (f"identical on all {len(want)} frames" if not bad else
            f"DIFFERENT on {len(bad)} of {len(want)} frames (first {bad[0]})")


def fps_naive(detector: Detector, video: Path, frames: int) -> float:
    cap = cv2.VideoCapture(str(video))
    analytics = Analytics(source="bench")
    n, t0 = 0, time.perf_counter()
    while n < frames:
        ok, image = cap.read()
        if not ok:
            break
        analytics.update(detector(image), n, n / 10)
        n += 1
    cap.release()
    return n / (time.perf_counter() - t0)


def unfolded(detector: Detector, video: Path) -> tuple[Runtime, dict[str, np.ndarray]]:
    """The model file as it is (float32 NCHW input, no conversion folded into the graph) on the detector's
    engine, and its feeds for the first frame: the strict model-only baseline."""
    runtime = detector.runtime
    path: Path = runtime.path  # type: ignore[attr-defined]
    loaded = getattr(runtime, "model_bytes", None) or b""
    float_weights = b"ConvInteger" in path.read_bytes() and b"ConvInteger" not in loaded  # auto's choice
    original = open_runtime(path, runtime.engine, precision=getattr(runtime, "precision", "f32"),
                            dequantize=float_weights)
    decoder = detector.decoder
    canvas, _ = letterbox_image(read_frames(video, 1)[0], decoder.input_size, center=decoder.center,
                                fill=decoder.fill)
    return original, {decoder.input_name: to_nchw(canvas, rgb=decoder.rgb, scale=decoder.scale)}


def fps_model_only(detector: Detector, video: Path, count: int, *, use_async: bool,
                   runtime: Runtime | None = None, feeds: dict[str, np.ndarray] | None = None) -> float:
    """The runtime alone on one frame's feeds (the detector's own, or ``runtime`` and ``feeds``)."""
    if runtime is None or feeds is None:
        feeds, runtime = detector.prepare(read_frames(video, 1)[0]).feeds, detector.runtime
    runtime.run(feeds)
    if use_async:
        with runtime.open_async(0, lambda outputs, userdata: None) as jobs:
            t0 = time.perf_counter()
            for i in range(count):
                jobs.submit(feeds, i)
            jobs.wait_all()
            return count / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(count):
        runtime.run(feeds)
    return count / (time.perf_counter() - t0)


def fps_ultralytics(model_path: Path, video: Path, frames: int) -> float | None:
    try:
        from ultralytics import YOLO  # noqa: PLC0415 — benchmark-only environment
    except ImportError:
        return None
    model = YOLO(str(model_path), task="detect")
    next(iter(model.predict(str(video), stream=True, imgsz=640, device="cpu", verbose=False)))  # warm up
    t0 = time.perf_counter()
    results = model.predict(str(video), stream=True, imgsz=640, device="cpu", verbose=False)
    n = sum(1 for _ in itertools.islice(results, frames))
    return n / (time.perf_counter() - t0)


def measure(
    name: str, *, detector: Detector, video: Path, frames: int, rounds: int, onnx: Path | None, engine: str
) -> dict[str, float | None]:
    original, original_feeds = unfolded(detector, video)
    contenders: dict[str, Callable[[], float | None]] = {
        "pipeline": lambda: fps_pipeline(detector, video, frames),
        "naive": lambda: fps_naive(detector, video, frames),
        "model-only async": lambda: fps_model_only(detector, video, frames, use_async=True,
                                                   runtime=original, feeds=original_feeds),
        "model-only sync": lambda: fps_model_only(detector, video, frames, use_async=False,
                                                  runtime=original, feeds=original_feeds),
        "folded model-only async": lambda: fps_model_only(detector, video, frames, use_async=True),
    }
    if onnx is not None and engine in ("onnxruntime", "auto"):
        contenders["ultralytics"] = lambda: fps_ultralytics(onnx, video, frames)
    print(f"  {name} results against the unfolded model in a plain loop: "
          f"{check_identical(detector, video, frames)}", file=sys.stderr, flush=True)
    fps_pipeline(detector, video, max_frames=30)  # warm-up, untimed: the first calls of a session are slow
    fps_model_only(detector, video, 30, use_async=True)
    got: dict[str, list[float]] = {k: [] for k in contenders}
    cpu: dict[str, list[float]] = {k: [] for k in contenders}
    for r in range(rounds):
        print(f"  {name} round {r + 1}: {describe(probe())}", file=sys.stderr, flush=True)
        order = list(contenders) if r % 2 == 0 else list(reversed(contenders))
        for key in order:
            c0, w0 = time.process_time(), time.perf_counter()
            value = contenders[key]()
            if value is not None:
                got[key].append(value)
                cpu[key].append(1000 * (time.process_time() - c0) / (value * (time.perf_counter() - w0)))
        print(
            f"  {name} round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in got.items() if v)
            + " fps; CPU-ms per frame: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in cpu.items() if v),
            file=sys.stderr,
            flush=True,
        )
    if got.get("ultralytics"):
        per_round = [p / u for p, u in zip(got["pipeline"], got["ultralytics"], strict=True)]
        print(f"  {name} pipeline / ultralytics per round: " + ", ".join(f"{r:.2f}×" for r in per_round),
              file=sys.stderr, flush=True)
        pairs = zip(per_round, got["ultralytics"], got["model-only async"], strict=True)
        unhindered = [r for r, u, a in pairs if u >= UNHINDERED * a]
        print(f"  {name} the same where ultralytics ran unhindered (≥ {UNHINDERED}× the round's async "
              f"model-only figure): {', '.join(f'{r:.2f}×' for r in unhindered) or 'no round'}",
              file=sys.stderr, flush=True)
    out = {k: (statistics.median(v) if v else None) for k, v in got.items()}
    out["model-only"] = max(v for k, v in out.items() if k.startswith("model-only") and v is not None)
    for key in ("pipeline", "model-only async", "folded model-only async"):  # contention barely moves it
        out[f"{key} cpu_ms"] = statistics.median(cpu[key]) if cpu[key] else None
    return out


def ratio(a: float | None, b: float | None, pct: bool = False) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{100 * a / b:.0f} %" if pct else f"{a / b:.2f}×"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("video", nargs="?", type=Path, default=DEFAULT_VIDEO)
    p.add_argument("--frames", type=int, default=300, help="frames of the video to use (default 300)")
    p.add_argument("--codec", choices=("original", "MJPG", "mp4v"), default="original",
                   help="read the video itself, or its first frames re-encoded with this FourCC")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--engines", default="onnxruntime,openvino",
                   help="comma-separated: onnxruntime, openvino, auto (the engine choice of "
                        "models/choice.py, measured once per machine into the model cache)")
    p.add_argument("--yolov8n", type=Path, default=YOLOV8N)
    p.add_argument("--models", default="yolox-nano,yolov8n", help="which of yolox-nano,yolov8n to measure")
    args = p.parse_args(argv)
    import tempfile  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        video = args.video if args.codec == "original" else \
            clip_file(args.video, args.frames, Path(tmp) / "bench.avi", args.codec)
        wanted = args.models.split(",")
        models = [("yolox-nano", "yolox-nano", None)] if "yolox-nano" in wanted else []
        if "yolov8n" in wanted and args.yolov8n.is_file():
            models.append(("yolov8n int8", str(args.yolov8n), args.yolov8n))
        rows = []
        for (label, ref, onnx), engine in itertools.product(models, args.engines.split(",")):
            detector = load_model(ref, task="detect", engine=engine, cache_dir=default_cache_dir())
            assert isinstance(detector, Detector)
            choice = cached_choice(detector.runtime.path, default_cache_dir())  # type: ignore[attr-defined]
            rows.append(
                (
                    label,
                    f"auto: {choice.label}" if engine == "auto" and choice is not None else engine,
                    measure(
                        f"{label}/{engine}",
                        detector=detector,
                        video=video,
                        frames=args.frames,
                        rounds=args.rounds,
                        onnx=onnx,
                        engine=engine,
                    ),
                )
            )
    print(
        f"\nvideo: {args.video.name} ({args.codec}), first {args.frames} frames; "
        f"median of {args.rounds} alternating rounds\n"
    )
    print(
        "| model | engine | pipeline FPS | naive loop FPS | model-only async FPS | model-only sync FPS "
        "| ultralytics predict FPS | pipeline / best model-only | pipeline / naive | pipeline / ultralytics |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    cpu_rows = []
    for label, engine, m in rows:
        a, b = m.get("model-only async cpu_ms"), m.get("pipeline cpu_ms")
        f = m.get("folded model-only async cpu_ms")
        cpu_rows.append(f"| {label} | {engine} | {b or 0:.1f} | {a or 0:.1f} | {f or 0:.1f} | "
                        f"{ratio(a, b, True)} | {ratio(f, b, True)} |")
        cells = [
            f"{m[k]:.1f}" if m.get(k) is not None else "–"
            for k in ("pipeline", "naive", "model-only async", "model-only sync", "ultralytics")
        ]
        print(
            f"| {label} | {engine} | {' | '.join(cells)} | {ratio(m['pipeline'], m['model-only'], True)} | "
            f"{ratio(m['pipeline'], m['naive'])} | {ratio(m['pipeline'], m.get('ultralytics'))} |"
        )
    print("\nCPU time of this process per frame (ms, all threads): what a frame costs, whatever the "
          "neighbours do.\nWhen the cores are the limit, pipeline FPS / model-only FPS tends to model-only "
          "CPU / pipeline CPU.\n")
    print("| model | engine | pipeline CPU-ms/frame | model-only async CPU-ms/frame | the same, folded graph "
          "| model-only / pipeline | folded model-only / pipeline |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(cpu_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
