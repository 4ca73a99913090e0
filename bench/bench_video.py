"""Video jobs and the webcam loop: throughput next to the model-only speed of the same process.

1. Video job — a video uploaded to the real app (Flask test client) and run by a job: the one Pipeline in
   every-frame mode (decode → prepare → async inference → decode boxes → tracking and statistics → payload,
   saved to the job folder → publish), against the model alone, two ways: ``Detector.detect`` back to back on
   the already decoded frames (sync), and the runtime's async queue (``open_async``, the engine's optimal
   number of calls in flight, as the pipeline uses it) on one prepared frame; the faster is the baseline. Each
   job runs between two model-only passes whose mean is its baseline, so load from other processes falls on
   both alike; medians of the rounds. Target: job ≥ 90 % of model-only.
2. Saving results — what a job pays per frame to keep its results on disk (``JobStore.append``, one line
   per frame): fsync at most once a second (what jobs do) against fsync after every line.
3. Webcam loop — the webcam page in headless Chromium on a real server (cheroot, 127.0.0.1), its fake camera
   playing the video at 640×480: answered frames per second and round trip (capture → JPEG → POST
   /api/v1/detect → draw), read from the page after a warm-up. Target: ≥ 15 FPS with the default model.

The job's video is the file as a user has it (``--codec original``: vtest.avi, MS-MPEG-4, every frame), or
its first ``--frames`` frames re-encoded as ``MJPG`` or ``mp4v`` AVI. The codec matters on 2 cores: decoding
is the one cost the job has that model-only has not, and a 768×576 MJPG frame takes ≈ 2.1 CPU-ms to decode
against ≈ 0.8 for the original's (the table prints the figure for the file used).

Prints a Markdown table; asserts nothing. Reads ../shared/media/vtest.avi when present (else the test clip).

    python bench/bench_video.py [--video PATH] [--codec original|MJPG|mp4v] [--frames 300] [--rounds 5]
                                [--webcam-s 10] [--no-webcam]
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2

from visioncast import config
from visioncast.core.payload import result_to_payload
from visioncast.server.app import create_app
from visioncast.server.health import warm_up
from visioncast.server.videos.routes import EXTENSION
from visioncast.server.videos.store import JobStore
from visioncast.server.wsgi import HttpServer
from visioncast.sources.video import open_video

ROOT = Path(__file__).resolve().parents[1]
SHARED_VIDEO = ROOT.parent / "shared" / "media" / "vtest.avi"
TEST_CLIP = ROOT / "tests" / "data" / "vtest_clip.mp4"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def load_average() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def decode_ms(path: Path) -> float:
    """CPU milliseconds per frame to decode ``path`` the way jobs do (``open_video``), all frames."""
    start, n = time.process_time(), 0
    with open_video(path) as video:
        for _ in video:
            n += 1
    return (time.process_time() - start) * 1e3 / max(1, n)


def first_frames(source: Path, limit: int | None) -> tuple[list[Any], float]:
    """The first ``limit`` decoded frames of ``source`` (all when None) and its frame rate."""
    with open_video(source) as video:
        images = [frame.image for frame, _ in zip(video, range(limit) if limit else itertools.count(),
                                                   strict=False)]
        return images, video.fps


def cut_video(source: Path, frames: int, folder: Path, codec: str = "original") -> tuple[Path, list[Any]]:
    """The job's video file and its frames in memory: ``source`` itself, every frame (``original``), or its
    first ``frames`` frames re-encoded with the FourCC ``codec`` in an AVI."""
    images, fps = first_frames(source, None if codec == "original" else frames)
    if codec == "original":
        return source, images
    path = folder / "bench.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, images[0].shape[1::-1])
    for image in images:
        writer.write(image)
    writer.release()
    return path, images


def model_only_fps(detector: Any, images: list[Any]) -> tuple[float, float]:
    """(sync frames/s of ``Detector.detect`` on the decoded frames, async frames/s of the runtime's queue on
    one prepared frame, as many calls as frames)."""
    start = time.perf_counter()
    for image in images:
        detector(image)
    sync = len(images) / (time.perf_counter() - start)
    feeds, _ = detector.decoder.prepare(images[0])
    with detector.runtime.open_async(0, lambda outputs, userdata: None) as jobs:
        start = time.perf_counter()
        for i in range(len(images)):
            jobs.submit(feeds, i)
        jobs.wait_all()
    return sync, len(images) / (time.perf_counter() - start)


def store_ms(folder: Path, payload: dict[str, Any], lines: int) -> tuple[float, float]:
    """Wall ms per result line saved: (fsync at most once a second, fsync after every line)."""
    out = []
    for interval in (1.0, 0.0):
        store = JobStore(folder / f"store-{interval}", fsync_interval_s=interval)
        store.folder.mkdir()
        start = time.perf_counter()
        for i in range(lines):
            store.append({**payload, "frame": i})
        store.close()
        out.append((time.perf_counter() - start) * 1e3 / lines)
    return out[0], out[1]


def job_fps(client: Any, video: Path) -> tuple[float, float]:
    """(frames/s over the job's running time, frames/s from upload to done). Waits on the job's worker
    (no status polling, which would take CPU from it)."""
    start = time.perf_counter()
    answer = client.post("/api/v1/videos", data={"video": (io.BytesIO(video.read_bytes()), video.name)},
                         content_type="multipart/form-data")
    job_id = answer.get_json()["id"]
    client.application.extensions[EXTENSION].get(job_id).future.result(timeout=600)
    wall = time.perf_counter() - start
    job = client.get(f"/api/v1/videos/{job_id}").get_json()
    client.delete(f"/api/v1/videos/{job_id}")
    return job["detect_fps"], job["frames_done"] / wall


def bench_jobs(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    app = create_app(config.load(env={}, overrides={"data_dir": str(folder / "data"), "mqtt.enabled": False,
                                                    "broker.enabled": False}))
    warm_up(app)
    detector = app.extensions["visioncast"].detector()
    video, images = cut_video(args.video, args.frames, folder, args.codec)
    decode = decode_ms(video)
    client = app.test_client()
    model, sync, asyn, running, wall, ratio, wall_ratio = [], [], [], [], [], [], []
    try:
        for _ in range(args.rounds):  # each job bracketed by model-only runs: their mean is its baseline
            before = model_only_fps(detector, images)
            job_running, job_wall = job_fps(client, video)
            after = model_only_fps(detector, images)
            sync.append((before[0] + after[0]) / 2)
            asyn.append((before[1] + after[1]) / 2)
            baseline = max(sync[-1], asyn[-1])
            model.append(baseline)
            running.append(job_running)
            wall.append(job_wall)
            ratio.append(job_running / baseline)
            wall_ratio.append(job_wall / baseline)
        payload = result_to_payload(detector(images[0]), frame=0, timestamp=0.0)
        store_lazy, store_each = store_ms(folder, payload, min(300, 3 * len(images)))
    finally:
        app.extensions["visioncast"].close()
    med = statistics.median
    return {"frames": len(images), "width": images[0].shape[1], "height": images[0].shape[0],
            "model_fps": med(model), "sync_fps": med(sync), "async_fps": med(asyn),
            "store_lazy_ms": store_lazy, "store_each_ms": store_each,
            "job_fps": med(running), "job_wall_fps": med(wall), "ratio": med(ratio),
            "wall_ratio": med(wall_ratio), "ratios": ratio, "file": video.name, "decode_ms": decode}


def write_mjpeg(images: list[Any], path: Path) -> Path:
    with path.open("wb") as out:
        for image in images:
            out.write(cv2.imencode(".jpg", cv2.resize(image, (640, 480)), [cv2.IMWRITE_JPEG_QUALITY, 85])[1])
    return path


def bench_webcam(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only this half needs a browser

    app = create_app(config.load(env={}, overrides={"data_dir": str(folder / "web"), "mqtt.enabled": False,
                                                    "broker.enabled": False}))
    warm_up(app)
    images, _ = first_frames(args.video, args.frames)
    camera = write_mjpeg(images, folder / "camera.mjpeg")
    server = HttpServer(app, "127.0.0.1", 0, workers=4).start_in_thread()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={camera}"])
            page = browser.new_page()
            page.goto(f"{server.url}/webcam")
            page.select_option("#resolution", "640x480")
            page.click("#start")
            page.wait_for_function("Number(document.getElementById('view').dataset.frames) >= 10",
                                   timeout=30000)
            first = int(page.get_attribute("#view", "data-frames"))
            time.sleep(args.webcam_s)
            last = int(page.get_attribute("#view", "data-frames"))
            latency = float(page.get_attribute("#view", "data-latency-ms"))
            size = page.text_content("#status")
            browser.close()
    finally:
        server.stop()
        app.extensions["visioncast"].close()
    return {"fps": (last - first) / args.webcam_s, "latency_ms": latency, "size": size}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", type=Path, default=SHARED_VIDEO if SHARED_VIDEO.exists() else TEST_CLIP)
    p.add_argument("--codec", choices=("original", "MJPG", "mp4v"), default="original",
                   help="the job's file: the video itself (every frame), or its first --frames frames "
                        "re-encoded")
    p.add_argument("--frames", type=int, default=300, help="frames to re-encode (not with --codec original)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--webcam-s", type=float, default=10.0)
    p.add_argument("--no-webcam", action="store_true", help="skip the webcam page loop (no browser)")
    args = p.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}; {len(os.sched_getaffinity(0))} CPUs "
          f"available; load average {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        jobs = bench_jobs(args, Path(tmp))
        web = None if args.no_webcam else bench_webcam(args, Path(tmp))
    which = "every frame of the file itself" if args.codec == "original" else \
        f"first frames re-encoded as {args.codec} AVI"
    print(f"video: {args.video.name}, {which}: {jobs['frames']} frames {jobs['width']}×{jobs['height']}, "
          f"decoding {jobs['decode_ms']:.2f} CPU-ms per frame; {args.rounds} rounds, each job between two "
          f"model-only runs; medians; job / faster model-only per round: "
          f"{', '.join(f'{r:.2f}' for r in jobs['ratios'])}\n")
    print("| measure | value | vs model-only | target |\n|---|---|---|---|")
    print(f"| model-only `Detector.detect`, back to back (decoded frames) | {jobs['sync_fps']:.1f} frames/s "
          f"| {jobs['sync_fps'] / jobs['model_fps']:.2f}× | |")
    print(f"| model-only runtime async queue (one prepared frame) | {jobs['async_fps']:.1f} "
          f"frames/s | {jobs['async_fps'] / jobs['model_fps']:.2f}× | |")
    print(f"| video job, running time (Pipeline: decode, detect, track, save, publish) | "
          f"{jobs['job_fps']:.1f} frames/s | {jobs['ratio']:.2f}× | ≥ 0.90× |")
    print(f"| video job, upload → done (wall) | {jobs['job_wall_fps']:.1f} frames/s "
          f"| {jobs['wall_ratio']:.2f}× | |")
    print(f"| saving a result line, fsync at most once a second (jobs) | {jobs['store_lazy_ms']:.3f} ms "
          "per frame | | |")
    print(f"| saving a result line, fsync after every line | {jobs['store_each_ms']:.3f} ms per frame | | |")
    if web is not None:
        print(f"| webcam page loop, headless Chromium, {web['size'].removeprefix('Camera on: ').rstrip('.')} "
              f"| {web['fps']:.1f} FPS, round trip {web['latency_ms']:.1f} ms | | ≥ 15 FPS |")
    print(f"\nafter the run: load average {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
