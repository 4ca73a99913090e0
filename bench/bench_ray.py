"""Ray path benchmark: what running the models in Ray Serve deployments costs and what a second node adds.

On a two-node Ray cluster started here (``ray.cluster_utils.Cluster``, ``--node-cpus`` CPUs per node, both on
this machine) and the shipped detector (yolox-nano), 640×480 JPEGs posted to ``/api/v1/detect`` by
``--clients`` keep-alive connections from another process (bench_server.py's load generators):

* **local** — a plain server (the model in the server process, as without ``--ray``);
* **ray×1** — the same server with its model in a Serve deployment of 1 replica (``--replica-cpus``);
* **ray×2** — 2 replicas, one per node (Serve spreads them).

Each Ray server runs twice per round: the replica running the task's postprocess too, so that only the
Result travels back (``RayRuntime.run_task``, the default), and the model's raw outputs sent back to be
decoded on the server (``raw``: YOLOX-nano's 1.2 MB of float32 per call), to see what that saves. Image
tensors go as uint8 in both (exact; the float32 they replace cost 3–8 % more, docs/scale.md).

The servers take turns of ``--seconds`` for ``--rounds`` rounds so that outside load falls on all alike; the
median round is kept. Also the replicas alone (deployment handle, ``--clients`` threads, no HTTP); a video
pipeline (every frame of tests/data/vtest_clip.avi, as a video job runs it) on the local model and through
the replicas with 1 frame in flight and with the default (2 per replica); and one stream's CPU cost per model
(a pipeline on the clip; a classifier loop), which the plan to 1,000 cameras in docs/scale.md is built from.
Each turn also reads /proc/stat: the whole machine's CPU time per request (server, Ray's processes and the
load generator alike), which says where a saturated machine's throughput goes. Prints Markdown tables and the
ratios; asserts nothing.

    python bench/bench_ray.py [--seconds 4] [--rounds 3] [--clients 4] [--node-cpus 1] [--replica-cpus 1]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_server import make_jpeg, median_round, python_hammer, wrk_hammer
from contention import describe, probe

from visioncast import config
from visioncast.models import load_model
from visioncast.pipeline.build import open_pipeline
from visioncast.scale.cluster import INLINE_TENSORS, Replicas, import_ray
from visioncast.scale.deployment import ServeDeployments
from visioncast.server.app import create_app
from visioncast.server.wsgi import HttpServer

ROOT = Path(__file__).resolve().parents[1]
Figures = tuple[float, float, float, float]  # p50 ms, p99 ms, requests/s, machine CPU-ms per request


def ray_server(stack: contextlib.ExitStack, tmp: str, replicas: int,
               args: argparse.Namespace) -> tuple[HttpServer, Any, Any]:
    """A server whose detector runs in a Serve deployment of ``replicas`` replicas; its deployments and
    detector."""
    deployments = ServeDeployments(Replicas(replicas, replicas), replica_cpus=args.replica_cpus,
                                   timeout_s=30.0)
    app = create_app(config.load(env={}, overrides={"data_dir": tmp, "models.detect": args.detect}))
    app.extensions["visioncast"].runtime_opener = deployments.open
    model = app.extensions["visioncast"].detector()
    server = stack.enter_context(HttpServer(app, "127.0.0.1", 0, workers=16))
    return server, deployments, model


def handle_rate(handle: Any, model: Any, threads: int, seconds: float) -> float:
    """Inferences/s of the deployment alone: ``threads`` threads calling the handle back to back."""
    spec = model.runtime.inputs[0]
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in spec.shape]
    feeds = {spec.name: np.full(shape, 114.0, np.float32)}
    for _ in range(10):  # the first calls after a deployment are several times slower (router, replica)
        handle.run.remote(feeds).result(timeout_s=30)
    counts = [0] * threads
    stop_at = time.perf_counter() + seconds

    def work(i: int) -> None:
        while time.perf_counter() < stop_at:
            handle.run.remote(feeds).result(timeout_s=30)
            counts[i] += 1

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def stream_cost() -> dict[str, float]:
    """CPU ms per frame of one every-frame pipeline (yolox-nano) and per classification (resnet56)."""
    detector = load_model("yolox-nano", threads=1)
    cfg = config.load(env={}).pipeline
    pipeline = open_pipeline(str(ROOT / "tests" / "data" / "vtest_clip.avi"), detector, cfg, max_frames=60)
    c0 = time.process_time()
    pipeline.run()
    detect_ms = (time.process_time() - c0) * 1e3 / max(1, pipeline.frames_out)
    classifier = load_model("resnet56-cifar10", threads=1)
    image = np.full((240, 320, 3), 128, np.uint8)
    classifier(image)
    c0 = time.process_time()
    for _ in range(100):
        classifier(image)
    return {"detect": detect_ms, "classify": (time.process_time() - c0) * 1e3 / 100}


def pipeline_fps(model: Any, jobs: int, rounds: int) -> float:
    """Frames/s of an every-frame pipeline over the clip with ``jobs`` frames in flight (median of rounds)."""
    cfg = dataclasses.replace(config.load(env={}).pipeline, async_jobs=jobs)
    rates = []
    for _ in range(rounds):
        pipeline = open_pipeline(str(ROOT / "tests" / "data" / "vtest_clip.avi"), model, cfg)
        t0 = time.perf_counter()
        pipeline.run()
        rates.append(pipeline.frames_out / (time.perf_counter() - t0))
    return sorted(rates)[len(rates) // 2]


def machine_busy_s() -> float:
    """CPU-seconds every core of the machine has been busy since boot (/proc/stat; all processes)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


Turn = tuple[HttpServer, Any]  # a server and what to set before its turn (None: nothing)


def run_rounds(servers: dict[str, Turn], load: Any, args: argparse.Namespace,
               body_file: str) -> dict[str, Figures]:
    rounds: dict[str, list[Figures]] = {name: [] for name in servers}
    for _ in range(args.rounds):
        for name, (server, before) in servers.items():
            if before is not None:
                before()
            busy = machine_busy_s()
            p50, p99, rps, _n = load(server.port, args.clients, args.seconds, body_file)
            cpu_ms = (machine_busy_s() - busy) * 1e3 / max(1.0, rps * args.seconds)
            rounds[name].append((p50, p99, rps, cpu_ms))
    return {name: median_round(r) for name, r in rounds.items()}  # type: ignore[misc, arg-type]


def outputs_back(runtime: Any, raw: bool) -> Any:
    """A turn's setup: the replica decodes the outputs (only the Result travels) or sends them back raw."""
    return lambda: setattr(runtime, "remote_post", not raw)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--node-cpus", type=float, default=1.0, help="CPUs each simulated node offers")
    parser.add_argument("--replica-cpus", type=float, default=1.0, help="CPUs (and threads) per replica")
    parser.add_argument("--load-generator", choices=("python", "wrk"), default="python")
    parser.add_argument("--detect", default="yolox-nano", metavar="NAME|PATH",
                        help="the detector both servers use (e.g. ../shared/models/"
                             "yolov8n_int8dyn_640_coco.onnx for a heavier model; AGPL: read in place, "
                             "not copied)")
    parser.add_argument("--inline", action=argparse.BooleanOptionalAction, default=True,
                        help="start the cluster with scale.cluster.INLINE_TENSORS (tensors inside the calls, "
                             "not through the object stores); --no-inline: Ray's defaults")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    load = wrk_hammer if args.load_generator == "wrk" else python_hammer
    before = describe(probe())
    logging.getLogger("ray").setLevel(logging.ERROR)
    ray = import_ray()
    from ray.cluster_utils import Cluster  # noqa: PLC0415 — after import_ray silenced its warnings

    # Ray starts its workers (the replicas) at nice 15 so that they never starve its own daemons; on this
    # machine, shared with other people's nice-0 processes, that alone cut the replicas' share of the CPU
    # several times over and made the comparison with the (nice 0) local server meaningless.
    os.environ.setdefault("RAY_worker_niceness", "0")
    t0 = time.perf_counter()
    head = {"num_cpus": args.node_cpus, "include_dashboard": False}
    if args.inline:
        head["_system_config"] = INLINE_TENSORS
    cluster = Cluster(initialize_head=True, connect=False, head_node_args=head)
    cluster.add_node(num_cpus=args.node_cpus)
    ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
    start_s = time.perf_counter() - t0
    figures: dict[str, Figures] = {}
    handle_rps: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        body_file = str(Path(tmp) / "body.jpg")
        Path(body_file).write_bytes(make_jpeg())
        local_app = create_app(config.load(env={}, overrides={"data_dir": tmp, "models.detect": args.detect}))
        local_model = local_app.extensions["visioncast"].detector()
        local = stack.enter_context(HttpServer(local_app, "127.0.0.1", 0, workers=16))
        fps = {"local": pipeline_fps(local_model, 0, args.rounds)}
        for replicas in (1, 2):
            with contextlib.ExitStack() as phase:
                server, deployments, model = ray_server(phase, tmp, replicas, args)
                phase.callback(deployments.close)
                handle = next(iter(deployments.apps.values()))
                handle_rps[replicas] = handle_rate(handle, model, args.clients, args.seconds)
                name = f"ray×{replicas}"
                turns = {"local": (local, None), name: (server, outputs_back(model.runtime, False)),
                         f"{name} raw": (server, outputs_back(model.runtime, True))}
                got = run_rounds(turns, load, args, body_file)
                model.runtime.remote_post = True
                figures.update({name: got[name], f"{name} raw": got[f"{name} raw"]})
                figures[f"local (phase {replicas})"] = got["local"]
                fps[f"{name}, 1 in flight"] = pipeline_fps(model, 1, args.rounds)
                default = f"{name}, default ({model.runtime.async_jobs} in flight)"
                fps[default] = pipeline_fps(model, 0, args.rounds)
    ray.shutdown()
    cluster.shutdown()
    report(figures, handle_rps, stream_cost(), args, start_s=start_s, before=before)
    print("\n| video pipeline (vtest_clip.avi, every frame) | frames/s |\n|---|---|")
    for name, rate in fps.items():
        print(f"| {name} | {rate:.1f} |")


def report(figures: dict[str, Figures], handle_rps: dict[int, float], cost: dict[str, float],
           args: argparse.Namespace, *, start_s: float, before: str) -> None:
    print(f"machine: {os.cpu_count()} CPUs, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"contention before: {before}; after: {describe(probe())}")
    print(f"cluster: 2 nodes × {args.node_cpus:g} CPU on this machine (started in {start_s:.1f} s), worker "
          f"niceness {os.environ['RAY_worker_niceness']}; tensors "  # noqa: SIM112
          f"{'inline in the calls' if args.inline else 'through the object stores'}; replicas of "
          f"{args.replica_cpus:g} CPU; detector {args.detect}; "
          f"{args.clients} clients; {args.rounds} rounds of {args.seconds:g} s, median round\n")
    print("| server | p50 ms | p99 ms | requests/s | machine CPU-ms per request |")
    print("|---|---|---|---|---|")
    for name, (p50, p99, rps, cpu_ms) in figures.items():
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {rps:.1f} | {cpu_ms:.1f} |")
    local1, local2 = figures["local (phase 1)"][2], figures["local (phase 2)"][2]
    r1, r2 = figures["ray×1"][2], figures["ray×2"][2]
    print(f"\nRay path at {args.clients} clients, 1 replica: {r1 / local1:.0%} of the local server's "
          f"throughput (target ≥ 85 %; raw outputs back {figures['ray×1 raw'][2] / local1:.0%}); "
          f"2 replicas: {r2 / local2:.0%} (raw {figures['ray×2 raw'][2] / local2:.0%})")
    added = [figures[f"ray×{n}{kind}"][3] - figures[f"local (phase {n})"][3]
             for n in (1, 2) for kind in ("", " raw")]
    print(f"CPU-ms added per request over the local server (target ≤ 3): ray×1 {added[0]:+.1f} (raw outputs "
          f"{added[1]:+.1f}); ray×2 {added[2]:+.1f} (raw {added[3]:+.1f})")
    print(f"2 replicas / 1 replica through the API: {r2 / r1:.2f}× (sum of two nodes alone would be 2.00×); "
          f"replicas alone (handle, no HTTP): {handle_rps[1]:.1f} → {handle_rps[2]:.1f} inferences/s, "
          f"{handle_rps[2] / handle_rps[1]:.2f}×")
    print(f"one stream's CPU cost: yolox-nano pipeline {cost['detect']:.1f} CPU-ms per frame "
          f"({cost['detect'] * 10 / 1000:.2f} cores at 10 fps); resnet56-cifar10 {cost['classify']:.2f} "
          "CPU-ms per image")


if __name__ == "__main__":
    main()
