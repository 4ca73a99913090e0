"""HTTP service benchmark: what the server adds on top of the model, side by side in one process.

For a 640×480 JPEG (tests/data/zidane.jpg resized) and the shipped detector (yolox-nano):

* model-only — ``detector.detect`` on the already decoded image, called by C threads at once;
* server — ``POST /api/v1/detect`` (raw JPEG body) to a real cheroot server on 127.0.0.1 in this process,
  each request decoding the JPEG, detecting, publishing and answering JSON. The load comes from C keep-alive
  connections in another process: ``wrk`` (Debian/Ubuntu package ``wrk``; C, ≈ 0.05 CPU-ms per request) when
  it is installed, else C threads of Python ``http.client`` (this script with ``--client``; ≈ 1.3 CPU-ms
  per request, which on a 2-core machine is taken from the server). ``--load-generator`` picks one;

at concurrency C = 1, 4, 16: latency p50/p99 (ms) and throughput (requests/s). The two take turns of
``--seconds`` each for ``--rounds`` rounds so that load from other processes falls on both alike; the
median round is reported. Prints a Markdown table and the two target figures; asserts nothing.

    python bench/bench_server.py [--seconds 3] [--rounds 3] [--workers 8] [--load-generator auto|wrk|python]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from contention import describe, probe

from visioncast import config
from visioncast.cli.serve import show_requests
from visioncast.server.app import create_app
from visioncast.server.health import warm_up
from visioncast.server.wsgi import HttpServer
from visioncast.sources.image import decode_image

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = (1, 4, 16)


def make_jpeg() -> bytes:
    image = cv2.imread(str(ROOT / "tests" / "data" / "zidane.jpg"))
    small = cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def hammer(call: Callable[[], Callable[[], None]], threads: int, seconds: float) -> tuple[list[float], float]:
    """Run ``call()()`` in ``threads`` threads for ``seconds``; (latencies ms, requests per second)."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def worker(i: int) -> None:
        once = call()
        once()  # connect / warm this thread
        start.wait(timeout=60)
        while time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            once()
            latencies[i].append((time.perf_counter() - t0) * 1e3)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    t_begin = time.perf_counter()
    stop_at[0] = t_begin + seconds  # set before the barrier releases the workers
    start.wait(timeout=60)
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t_begin
    flat = [x for per in latencies for x in per]
    return flat, len(flat) / elapsed


def http_caller(port: int, body: bytes) -> Callable[[], Callable[[], None]]:
    def make() -> Callable[[], None]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        headers = {"Content-Type": "image/jpeg", "Content-Length": str(len(body))}

        def once() -> None:
            conn.request("POST", "/api/v1/detect", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"server answered {resp.status}: {data[:200]!r}")

        return once

    return make


WRK_SCRIPT = """wrk.method = "POST"
local f = assert(io.open(os.getenv("VISIONCAST_BENCH_BODY"), "rb")); wrk.body = f:read("*a"); f:close()
wrk.headers["Content-Type"] = "image/jpeg"
"""
_WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk_hammer(port: int, threads: int, seconds: float, body_file: str) -> tuple[float, float, float, int]:
    """``threads`` keep-alive connections from wrk for ``seconds``: (p50 ms, p99 ms, requests/s, requests)."""
    script = Path(body_file).with_suffix(".lua")
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    command = ["wrk", "-t1", f"-c{threads}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
               "-s", str(script), f"http://127.0.0.1:{port}/api/v1/detect"]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=seconds + 60,
                          env={**os.environ, "VISIONCAST_BENCH_BODY": body_file})
    out = done.stdout
    if done.returncode != 0 or "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk failed or saw errors: {out[-2000:]} {done.stderr[-1000:]}")
    found = re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.M)
    pct = {p: float(v) * _WRK_UNITS[u] for p, v, u in found}
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return pct["50"], pct["99"], rps, total


def python_hammer(port: int, threads: int, seconds: float, body_file: str) -> tuple[float, float, float, int]:
    """:func:`hammer` with :func:`http_caller` in a child process: (p50 ms, p99 ms, requests/s, requests)."""
    lat, rps = remote_hammer(port, threads, seconds, body_file)
    return (*stats(lat, rps), len(lat))


def remote_hammer(port: int, threads: int, seconds: float, body_file: str) -> tuple[list[float], float]:
    """:func:`hammer` with :func:`http_caller` run in a child process (``--client``)."""
    command = [sys.executable, __file__, "--client", str(port), str(threads), str(seconds), body_file]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=seconds + 90)
    if done.returncode != 0:
        raise RuntimeError(f"the client process failed: {done.stderr[-2000:]}")
    out = done.stdout
    data = json.loads(out)
    return data["latencies_ms"], data["rps"]


def client_main(port: int, threads: int, seconds: float, body_file: str) -> None:
    lat, rps = hammer(http_caller(port, Path(body_file).read_bytes()), threads, seconds)
    print(json.dumps({"latencies_ms": lat, "rps": rps}))


def stats(lat: list[float], rps: float) -> tuple[float, float, float]:
    return float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), rps


Figures = tuple[float, float, float]  # p50 ms, p99 ms, requests/s


def cpu_per_call(run: Callable[[], tuple[float, float, float, int]]) -> tuple[Figures, float]:
    """``run()``'s (p50, p99, rps) and the CPU time this process spent per request meanwhile (ms; all its
    threads)."""
    c0 = time.process_time()
    p50, p99, rps, n = run()
    return (p50, p99, rps), (time.process_time() - c0) * 1e3 / max(1, n)


def in_process(call: Callable[[], Callable[[], None]], threads: int, seconds: float
               ) -> tuple[float, float, float, int]:
    lat, rps = hammer(call, threads, seconds)
    return (*stats(lat, rps), len(lat))


def median_round(rounds: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """The round with the median throughput (its own p50/p99 kept together)."""
    return sorted(rounds, key=lambda r: r[2])[len(rounds) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8, help="cheroot request threads")
    parser.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto",
                        help="auto: wrk when installed, else Python http.client threads")
    parser.add_argument("--client", nargs=4, metavar=("PORT", "THREADS", "SECONDS", "BODY"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        port, threads, seconds, body_file = args.client
        client_main(int(port), int(threads), float(seconds), body_file)
        return

    generator = args.load_generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    elif generator == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt install wrk), or use --load-generator python")
    load = wrk_hammer if generator == "wrk" else python_hammer
    args.probe_before = describe(probe())  # contention.py: is the machine quiet enough for the figures?
    body = make_jpeg()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        body_file = str(Path(tmp) / "body.jpg")
        Path(body_file).write_bytes(body)
        cfg = config.load(env={}, overrides={"data_dir": tmp, "server.workers": args.workers})
        app = create_app(cfg)
        warm_up(app)
        devnull = stack.enter_context(open(os.devnull, "w", encoding="utf-8"))
        show_requests(devnull)  # the access log line `visioncast serve` prints, formatted and written
        detector = app.extensions["visioncast"].detector()
        image = decode_image(body)
        decode = [stats(*hammer(lambda: lambda: decode_image(body), 1, 1.0))[0] for _ in range(args.rounds)]
        with HttpServer(app, "127.0.0.1", 0, workers=args.workers) as server:
            rows, cpu = {}, {}
            for c in CONCURRENCY:
                model_rounds, server_rounds, model_cpu, server_cpu = [], [], [], []
                for _ in range(args.rounds):
                    model_only, ms = cpu_per_call(
                        lambda c=c: in_process(lambda: lambda: detector(image), c, args.seconds))
                    model_rounds.append(model_only)
                    model_cpu.append(ms)
                    served, ms = cpu_per_call(lambda c=c: load(server.port, c, args.seconds, body_file))
                    server_rounds.append(served)
                    server_cpu.append(ms)
                rows[c] = (median_round(model_rounds), median_round(server_rounds))
                cpu[c] = (float(np.median(model_cpu)), float(np.median(server_cpu)))
    report(rows, body, args, sorted(decode)[len(decode) // 2], generator)
    m_cpu, s_cpu = cpu[4]
    print(f"CPU time of this process per request at c=4 (the load generator's is not in it): model-only "
          f"{m_cpu:.2f} ms, server {s_cpu:.2f} ms (+{s_cpu - m_cpu:.2f} ms); the server's own cost alone "
          f"would keep {m_cpu / s_cpu:.0%} of model-only throughput on cores it had to itself")


def report(rows: dict[int, tuple[tuple[float, float, float], tuple[float, float, float]]], body: bytes,
           args: argparse.Namespace, decode_ms: float, generator: str) -> None:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {platform.processor() or platform.machine()}; {cpus} CPUs available; "
          f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"image: zidane.jpg resized to 640×480, JPEG {len(body) / 1024:.0f} KB; cheroot workers "
          f"{args.workers}; load generator {generator}; {args.rounds} rounds of {args.seconds:g} s, "
          "median round\n")
    print("| concurrency | model-only p50 / p99 ms | server p50 / p99 ms | server adds at p50 | "
          "model-only req/s | server req/s | server / model-only throughput |")
    print("|---|---|---|---|---|---|---|")
    for c, (m, s) in rows.items():
        print(f"| {c} | {m[0]:.2f} / {m[1]:.2f} | {s[0]:.2f} / {s[1]:.2f} | {s[0] - m[0]:+.2f} ms | "
              f"{m[2]:.1f} | {s[2]:.1f} | {s[2] / m[2]:.0%} |")
    (m1, s1), (m4, s4) = rows[1], rows[4]
    print(f"\nserver adds {s1[0] - m1[0]:.2f} ms at p50 (concurrency 1; target ≤ 3 ms), of which "
          f"{decode_ms:.2f} ms is decoding the JPEG (decode_image p50, which `visioncast detect` pays too)")
    print(f"throughput at c=4 = {s4[2] / m4[2]:.0%} of model-only (target ≥ 85 %)")
    print(f"after the run: load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"contention {describe(probe())} (before: {args.probe_before})")


if __name__ == "__main__":
    main()
