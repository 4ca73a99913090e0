"""Server streams on the cluster: what placing a stream as a Ray actor costs and what it takes off the server.

On a two-node Ray cluster started here (``ray.cluster_utils.Cluster``, ``--node-cpus`` CPUs per node, both on
this machine), a server (Flask test client, no HTTP) starts streams of tests/data/vtest_clip.avi (70 frames,
576×432) with the shipped detector, as fast as they go (``"realtime": false``), nobody watching:

* **local** — the pipeline in the server process (``"placement": "local"``);
* **ray** — the pipeline in a stream actor of ``--actor-cpus`` on a node, the server pulling its results.

Placements take turns for ``--rounds`` rounds so outside load falls on both alike; the median is kept. For
each: the start (the POST's answer: for ray a new actor — a worker process, the model, the source), the run
from there to the stream's end and its frames per second, and the CPU seconds the server process spent over
both (``time.process_time``: all its threads, not the cluster's processes) — per frame, what a server pays
for a stream. The local engine uses ``models.threads`` (0: every core), an actor's as many as its CPUs.
Prints a Markdown table; asserts nothing.

    python bench/bench_ray_streams.py [--rounds 3] [--node-cpus 1] [--actor-cpus 1]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from visioncast import config
from visioncast.scale.cluster import import_ray
from visioncast.scale.stream import RayStreams
from visioncast.server.app import create_app
from visioncast.server.streams.registry import registry

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "tests" / "data" / "vtest_clip.avi"


Run = tuple[float, float, int, float]  # start s, run s, frames out, server CPU s


def one_stream(client: Any, placement: str) -> Run:
    """One stream of the clip, start to end."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    answer = client.post("/api/v1/streams", json={"source": str(CLIP), "realtime": False,
                                                  "placement": placement})
    assert answer.status_code == 201, answer.get_json()
    t1, sid = time.perf_counter(), answer.get_json()["id"]
    while (info := client.get(f"/api/v1/streams/{sid}").get_json())["state"] == "running":
        time.sleep(0.02)
    t2, cpu = time.perf_counter(), time.process_time() - cpu0
    assert info["state"] == "stopped", info
    assert info["placement"]["where"] == placement, info
    return t1 - t0, t2 - t1, info["counters"]["frames_out"], cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--node-cpus", type=int, default=1)
    parser.add_argument("--actor-cpus", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    ray = import_ray()
    from ray.cluster_utils import Cluster  # noqa: PLC0415 — the extra

    cluster = Cluster(initialize_head=True, connect=False,
                      head_node_args={"num_cpus": args.node_cpus, "include_dashboard": False})
    cluster.add_node(num_cpus=args.node_cpus)
    ray.init(address=cluster.address, namespace="visioncast", log_to_driver=False, logging_level="ERROR")
    cluster.wait_for_nodes(timeout=60)
    with tempfile.TemporaryDirectory() as tmp:
        overrides = {"data_dir": tmp, "broker.enabled": False, "mqtt.enabled": False,
                     "streams.allow": [str(CLIP)]}
        app = create_app(config.load(env={}, overrides=overrides))
        svc = app.extensions["visioncast"]
        registry(app).placer = RayStreams(svc.config.models, actor_cpus=args.actor_cpus)
        client = app.test_client()
        try:
            one_stream(client, "ray")  # warm-up: model loaded here, a worker process started there
            runs: dict[str, list[Run]] = {"local": [], "ray": []}
            for _ in range(args.rounds):
                for placement, done in runs.items():
                    done.append(one_stream(client, placement))
        finally:
            svc.close()
            ray.shutdown()
            cluster.shutdown()
    print(f"\n{args.rounds} rounds, median; 2 nodes × {args.node_cpus} CPU, stream actor {args.actor_cpus:g} "
          "CPU, vtest_clip.avi (70 frames) as fast as it goes, yolox-nano\n")
    print("| placement | start s | run s | frames | fps | server CPU s | server CPU ms/frame |")
    print("|---|---|---|---|---|---|---|")
    for placement, done in runs.items():
        start, run, frames, cpu = (statistics.median(r[i] for r in done) for i in range(4))
        print(f"| {placement} | {start:.2f} | {run:.2f} | {frames:.0f} | {frames / run:.1f} | {cpu:.2f} | "
              f"{1000 * cpu / frames:.1f} |")


if __name__ == "__main__":
    main()
