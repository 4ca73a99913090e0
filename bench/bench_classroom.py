"""Classroom load: N webcam clients at once against one server, against the model alone, in one process.

Each client is what the webcam page does: one 640×480 JPEG ``POST /api/v1/detect?source=webcam`` in flight,
the next frame as soon as the answer comes (latest-frame loop, keep-alive connection). The clients run in a
process of their own (Python ``http.client``, one thread each); the server is the real HTTP server
(server/wsgi.py) in this process with the shipped detector and ``--workers`` request workers (``serve``'s
default, 8: a waiting client holds a socket, not a worker). Model-only is ``detector.detect`` on the decoded
image from 2 threads (the async optimum on 2 cores). The two take turns of ``--seconds`` for ``--rounds``
rounds, so that load from other processes falls on both alike; the median round is reported.

Reported per client count: aggregate requests/s and its ratio to model-only (target ≥ 0.85 at 30 and at 4
clients), fairness (slowest and fastest client's rate against the mean; target: every client within ±25 %),
and the p50/p95 round trip. The Python clients cost ≈ 1.3 CPU-ms per request on the same cores (see
bench_server.py), which the ratio pays. Asserts nothing.

    python bench/bench_classroom.py [--clients 30 4] [--seconds 60] [--rounds 3] [--workers 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from bench_server import make_jpeg
from contention import describe, probe

from visioncast import config
from visioncast.server.app import create_app
from visioncast.server.health import warm_up
from visioncast.server.wsgi import HttpServer
from visioncast.sources.image import decode_image

ROOT = Path(__file__).resolve().parents[1]
PATH = "/api/v1/detect?source=webcam"


def client_main(port: int, clients: int, seconds: float, body_file: str) -> None:
    """(subprocess) ``clients`` latest-frame loops for ``seconds``; prints each one's count and latencies."""
    body = Path(body_file).read_bytes()
    counts = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def loop(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        while time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            conn.request("POST", PATH, body, {"Content-Type": "image/jpeg"})
            answer = conn.getresponse()
            answer.read()
            if answer.status == 200:
                counts[i] += 1
                latencies[i].append((time.perf_counter() - t0) * 1e3)
        conn.close()

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    start.wait()
    for t in threads:
        t.join(seconds + 60)
    print(json.dumps({"counts": counts, "latencies": latencies}))


def classroom(port: int, clients: int, seconds: float, body_file: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--client", str(port), str(clients), str(seconds), body_file]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 120)
    data = json.loads(done.stdout)
    rates = [c / seconds for c in data["counts"]]
    lat = [x for per in data["latencies"] for x in per]
    mean = statistics.fmean(rates)
    p50, p95 = (float(np.percentile(lat, q)) for q in (50, 95)) if lat else (0.0, 0.0)
    return {"rps": sum(rates), "slowest": min(rates) / mean - 1 if mean else 0.0,
            "fastest": max(rates) / mean - 1 if mean else 0.0, "p50": p50, "p95": p95}


def model_only(detector: object, image: np.ndarray, seconds: float, threads: int = 2) -> float:
    count = [0] * threads
    stop_at = time.perf_counter() + seconds

    def loop(i: int) -> None:
        while time.perf_counter() < stop_at:
            detector(image)  # type: ignore[attr-defined]
            count[i] += 1

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(count) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[30, 4])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--client", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        port, clients, seconds, body_file = args.client
        client_main(int(port), int(clients), float(seconds), body_file)
        return
    body = make_jpeg()
    with tempfile.TemporaryDirectory() as tmp:
        body_file = str(Path(tmp) / "frame.jpg")
        Path(body_file).write_bytes(body)
        overrides = {"data_dir": tmp, "mqtt.enabled": False, "broker.enabled": False}
        app = create_app(config.load(env={}, overrides=overrides))
        warm_up(app)
        detector = app.extensions["visioncast"].detector()
        image = decode_image(body)
        server = HttpServer(app, "127.0.0.1", 0, workers=args.workers).start_in_thread()
        try:
            print(f"CPUs {os.cpu_count()}, {args.rounds} rounds × {args.seconds:g} s, {args.workers} "
                  f"workers; {describe(probe())}\n")
            print("| clients | model-only req/s | server req/s | ratio | slowest / fastest client vs mean "
                  "| p50 / p95 ms | rounds (ratio) |\n|---|---|---|---|---|---|---|")
            for clients in args.clients:
                rounds = []
                for _ in range(args.rounds):
                    alone = model_only(detector, image, args.seconds)
                    served = classroom(server.port, clients, args.seconds, body_file)
                    rounds.append((served["rps"] / alone, alone, served))
                ratio, alone, served = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]
                each = ", ".join(f"{r[0]:.2f}" for r in rounds)
                print(f"| {clients} | {alone:.1f} | {served['rps']:.1f} | {ratio:.2f} | "
                      f"{served['slowest']:+.0%} / {served['fastest']:+.0%} | "
                      f"{served['p50']:.0f} / {served['p95']:.0f} | {each} |", flush=True)
        finally:
            server.stop()
            app.extensions["visioncast"].close()


if __name__ == "__main__":
    main()
