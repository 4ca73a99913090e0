"""Classroom soak (issue 27): a real ``visioncast serve`` with its managed broker under a class's afternoon of
load for ``--minutes``, everything on loopback. Not a test: it prints what happened and asserts nothing.

Load, each part from processes of its own (never the server's):

* 30 webcam clients: one 640×480 JPEG ``POST /api/v1/detect?source=webcam`` in flight each, the next as soon
  as the answer comes (keep-alive), as the webcam page does;
* 8 MJPEG viewers of a running stream (the teacher's stream of tests/data/vtest_clip.avi, started again
  whenever it ends; viewers reconnect);
* 2 video uploaders: upload the clip, wait until it is detected, delete it, again;
* 50 MQTT subscribers (``--subscriber-procs`` processes of paho clients, the boards' login) on
  ``visioncast/#``;
* ``/healthz`` probed every 0.5 s from this process;
* the broker (its process) killed with SIGKILL once, at ``--kill-at`` of the run.

Reported: requests served and errors by status, ``/healthz`` p50/p99 and failures, server and broker RSS at
the start and the end, each subscriber's message count against the server's published count (``/metrics``),
and whether (and when) the broker came back.

    python bench/soak_classroom.py [--minutes 10] [--clients 30] [--viewers 8] [--subscribers 50]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests
from bench_server import make_jpeg
from contention import describe, probe

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "tests" / "data" / "vtest_clip.avi"
PASSWORD = "soak-boards-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- load processes ----------------------------------------------------------------------------------------
class Load:
    """(subprocess) The clients' shared state: the end time and the answers counted by kind."""

    def __init__(self, base: str, seconds: float, body: bytes) -> None:
        self.base, self.body = base, body
        self.stop_at = time.monotonic() + seconds
        self.codes: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def going(self) -> bool:
        return time.monotonic() < self.stop_at

    def count(self, what: str) -> None:
        with self._lock:
            self.codes[what] += 1


def webcam(load: Load) -> None:
    """One webcam page: the next frame as soon as the answer came."""
    session = requests.Session()
    while load.going:
        try:
            answer = session.post(f"{load.base}/api/v1/detect?source=webcam", data=load.body, timeout=30,
                                  headers={"Content-Type": "image/jpeg"})
            load.count(f"detect {answer.status_code}")
        except requests.RequestException as exc:
            load.count(f"detect {type(exc).__name__}")
            time.sleep(0.5)


def list_streams(base: str, count: Any = None) -> list[dict[str, Any]]:
    """The server's streams (an answer without them is counted by its status, and is none)."""
    answer = requests.get(f"{base}/api/v1/streams", timeout=10)
    body = answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else {}
    if "streams" not in body:
        if count is not None:
            count(f"streams {answer.status_code} {body.get('error', '')}")
        return []
    return list(body["streams"])


def viewer(load: Load) -> None:
    """One MJPEG viewer of the running stream, reconnecting when it ends."""
    while load.going:
        try:
            running = [s for s in list_streams(load.base, load.count) if s["state"] == "running"]
            if not running:
                time.sleep(0.5)
                continue
            with requests.get(f"{load.base}{running[0]['mjpeg_url']}", stream=True, timeout=30) as answer:
                load.count(f"mjpeg {answer.status_code}")
                for _ in answer.iter_content(65536):
                    if not load.going:
                        return
        except requests.RequestException as exc:
            load.count(f"mjpeg {type(exc).__name__}")
            time.sleep(0.5)


def uploader(load: Load) -> None:
    """Upload the clip, wait until it is detected, delete it, again."""
    while load.going:
        try:
            with CLIP.open("rb") as fh:
                job = requests.post(f"{load.base}/api/v1/videos", files={"video": ("clip.avi", fh)},
                                    timeout=60)
            load.count(f"upload {job.status_code}")
            if job.status_code != 201:
                time.sleep(1)
                continue
            url = f"{load.base}/api/v1/videos/{job.json()['id']}"
            while load.going:
                state = requests.get(url, timeout=10).json()["state"]
                if state in ("done", "failed", "cancelled"):
                    load.count(f"video {state}")
                    break
                time.sleep(0.5)
            requests.delete(url, timeout=10)
        except requests.RequestException as exc:
            load.count(f"upload {type(exc).__name__}")
            time.sleep(1)


def load_main(argv: list[str]) -> None:
    """(subprocess) BASE CLIENTS VIEWERS UPLOADERS SECONDS BODY_FILE: the load; prints JSON counts."""
    base, clients, viewers, uploaders, seconds, body_file = argv
    load = Load(base, float(seconds), Path(body_file).read_bytes())
    threads = ([threading.Thread(target=webcam, args=(load,)) for _ in range(int(clients))]
               + [threading.Thread(target=viewer, args=(load,)) for _ in range(int(viewers))]
               + [threading.Thread(target=uploader, args=(load,)) for _ in range(int(uploaders))])
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(float(seconds) + 120)
    print(json.dumps(dict(load.codes)))


def subscribers_main(port: int, count: int, seconds: float) -> None:
    """(subprocess) ``count`` paho subscribers on visioncast/#; prints each one's message count."""
    import paho.mqtt.client as mqtt  # noqa: PLC0415 — only the subscriber processes need paho

    got = [0] * count
    subscribed = threading.Semaphore(0)
    clients = []
    for i in range(count):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"soak-sub-{os.getpid()}-{i}")
        client.username_pw_set("visioncast", PASSWORD)
        client.on_connect = lambda c, *_: c.subscribe("visioncast/#", qos=1)
        client.on_subscribe = lambda *_: subscribed.release()
        client.on_message = lambda _c, _u, _m, i=i: got.__setitem__(i, got[i] + 1)
        client.reconnect_delay_set(1, 5)
        client.connect_async("127.0.0.1", port, keepalive=10)
        client.loop_start()
        clients.append(client)
    for _ in range(count):
        subscribed.acquire(timeout=60)
    print("ready", flush=True)  # the soak starts its load once every subscriber process said so
    time.sleep(seconds)
    for client in clients:
        client.disconnect()
        client.loop_stop()
    print(json.dumps(got))


# ---- the server ------------------------------------------------------------------------------------------
def start_server(data: Path, port: int, broker_port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "VISIONCAST_DATA_DIR": str(data), "VISIONCAST_BROKER__PORT": str(broker_port),
           "VISIONCAST_BROKER__PASSWORD": PASSWORD, "VISIONCAST_BROKER__WS_PORT": "0",
           "VISIONCAST_BROKER__TLS_PORT": "0", "VISIONCAST_BROKER__HOST": "127.0.0.1",
           "VISIONCAST_STREAMS__ALLOW": str(ROOT / "tests" / "data" / "*"), "VISIONCAST_MQTT__QOS": "1"}
    command = [sys.executable, "-m", "visioncast", "serve", "--host", "127.0.0.1", "--port", str(port)]
    data.mkdir(parents=True, exist_ok=True)
    with (data / "serve.log").open("w") as log:  # read by nobody during the run: never a pipe that fills
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        if server.poll() is not None:
            raise SystemExit(f"serve exited: {(data / 'serve.log').read_text()[-2000:]}")
        time.sleep(0.5)
    server.kill()
    raise SystemExit("serve did not become ready in 120 s")


def broker_process(server: psutil.Process) -> psutil.Process | None:
    """The server's Mosquitto child, if one is alive."""
    for child in server.children(recursive=True):
        try:
            if "mosquitto" in child.name() and child.status() != psutil.STATUS_ZOMBIE:
                return child
        except psutil.Error:
            continue
    return None


def published(base: str) -> dict[str, float]:
    text = requests.get(f"{base}/metrics", timeout=10).text
    found = re.findall(r'^visioncast_mqtt_messages_total\{outcome="(\w+)"\} ([0-9.e+]+)$', text, re.M)
    return {outcome: float(value) for outcome, value in found}


def keep_stream(base: str, stop: threading.Event, starts: list[float]) -> None:
    """The teacher's stream, started again whenever it ends."""
    while not stop.is_set():
        try:
            streams = list_streams(base)
            if not any(s["state"] == "running" for s in streams):
                for old in streams:
                    requests.delete(f"{base}/api/v1/streams/{old['id']}", timeout=10)
                requests.post(f"{base}/api/v1/streams", json={"source": str(CLIP), "name": "cam"}, timeout=30)
                starts.append(time.monotonic())
        except requests.RequestException:
            pass
        stop.wait(1.0)


def probe_health(base: str, stop: threading.Event, latencies: list[float], failures: Counter[str]) -> None:
    session = requests.Session()
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            answer = session.get(f"{base}/healthz", timeout=5)
            latencies.append((time.perf_counter() - t0) * 1e3)
            if answer.status_code != 200:
                failures[str(answer.status_code)] += 1
        except requests.RequestException as exc:
            failures[type(exc).__name__] += 1
        stop.wait(0.5)


def rss_mb(process: psutil.Process | None) -> str:
    try:
        return f"{process.memory_info().rss / 1e6:.0f} MB" if process is not None else "—"
    except psutil.Error:
        return "gone"


@dataclass
class Soak:
    """What one soak measured."""

    codes: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    rss: list[tuple[str, str]] = field(default_factory=list)  # (server, broker) at the start, at the end
    sent: dict[str, float] = field(default_factory=dict)
    counts: list[int] = field(default_factory=list)
    killed_at: float | None = None
    back_after: float | None = None
    stream_starts: list[float] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)  # the server's ERROR lines


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--viewers", type=int, default=8)
    parser.add_argument("--uploaders", type=int, default=2)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--subscriber-procs", type=int, default=5)
    parser.add_argument("--kill-at", type=float, default=0.4, help="fraction of the run when the broker dies")
    parser.add_argument("--load", nargs=6, help=argparse.SUPPRESS)
    parser.add_argument("--subscribe", nargs=3, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse()
    if args.load:
        load_main(args.load)
        return
    if args.subscribe:
        port, count, seconds = args.subscribe
        subscribers_main(int(port), int(count), float(seconds))
        return
    print(f"CPUs {os.cpu_count()}; {describe(probe())}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        soak = run(args, Path(tmp))
    report(args, soak)


def start_subscribers(args: argparse.Namespace, port: int, seconds: float) -> list[subprocess.Popen[str]]:
    per = -(-args.subscribers // args.subscriber_procs)
    sizes = [min(per, args.subscribers - i * per) for i in range(args.subscriber_procs)]
    return [subprocess.Popen([sys.executable, __file__, "--subscribe", str(port), str(n), str(seconds)],
                             stdout=subprocess.PIPE, text=True) for n in sizes if n > 0]


def run(args: argparse.Namespace, tmp: Path) -> Soak:
    """Start the server, the subscribers and the load; kill the broker once; collect what happened."""
    seconds, soak = args.minutes * 60, Soak()
    port, broker_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(tmp / "data", port, broker_port)
    proc = psutil.Process(server.pid)
    broker = broker_process(proc)
    soak.rss.append((rss_mb(proc), rss_mb(broker)))
    body_file = tmp / "frame.jpg"
    body_file.write_bytes(make_jpeg())
    stop = threading.Event()
    helpers = [threading.Thread(target=keep_stream, args=(base, stop, soak.stream_starts)),
               threading.Thread(target=probe_health, args=(base, stop, soak.latencies, soak.failures))]
    for helper in helpers:
        helper.start()
    subs = start_subscribers(args, broker_port, seconds + 30)
    for sub in subs:  # every subscriber connected and subscribed before the load starts
        assert sub.stdout is not None
        sub.stdout.readline()
    before = published(base)
    load = subprocess.Popen([sys.executable, __file__, "--load", base, str(args.clients), str(args.viewers),
                             str(args.uploaders), str(seconds), str(body_file)],
                            stdout=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while load.poll() is None:
        now = time.monotonic() - t0
        if soak.killed_at is None and now >= args.kill_at * seconds and broker is not None:
            os.kill(broker.pid, signal.SIGKILL)
            soak.killed_at = now
        back = soak.killed_at is not None and broker_process(proc) not in (None, broker)
        if back and soak.back_after is None and soak.killed_at is not None:
            soak.back_after = now - soak.killed_at
        time.sleep(0.5)
    soak.codes = json.loads(load.stdout.read() if load.stdout else "{}")
    time.sleep(5)  # the last results reach the subscribers
    after = published(base)
    soak.sent = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    soak.rss.append((rss_mb(proc), rss_mb(broker_process(proc))))
    stop.set()
    for helper in helpers:
        helper.join(30)
    for sub in subs:
        soak.counts += json.loads(sub.communicate(timeout=seconds + 120)[0] or "[]")
    server.send_signal(signal.SIGINT)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
    log = (tmp / "data" / "serve.log").read_text(errors="replace").splitlines()
    soak.log_errors = [line for line in log if " ERROR " in line or "Traceback" in line]
    return soak


def report(args: argparse.Namespace, soak: Soak) -> None:
    lat = soak.latencies
    served = sum(n for k, n in soak.codes.items() if k.startswith("detect 200"))
    p50 = statistics.median(lat) if lat else float("nan")
    p99 = sorted(lat)[int(0.99 * (len(lat) - 1))] if lat else float("nan")
    print(f"\n{args.minutes:g} min, {args.clients} webcam clients, {args.viewers} MJPEG viewers, "
          f"{args.uploaders} uploaders, {args.subscribers} subscribers; stream (re)started "
          f"{len(soak.stream_starts)}×")
    print("\n| what | figure |\n|---|---|")
    print(f"| detect requests answered 200 | {served} ({served / (args.minutes * 60):.1f}/s) |")
    print(f"| answers by kind | {', '.join(f'{k}: {n}' for k, n in sorted(soak.codes.items()))} |")
    print(f"| /healthz p50 / p99 / max | {p50:.0f} / {p99:.0f} / {max(lat, default=0):.0f} ms "
          f"({len(lat)} probes; failed: {dict(soak.failures) or 'none'}) |")
    print(f"| server RSS start → end | {soak.rss[0][0]} → {soak.rss[-1][0]} |")
    print(f"| broker RSS start → end | {soak.rss[0][1]} → {soak.rss[-1][1]} |")
    kill = "not killed" if soak.killed_at is None else f"SIGKILL at {soak.killed_at:.0f} s; " + (
        f"back after {soak.back_after:.1f} s" if soak.back_after is not None else "not back by the end")
    print(f"| broker | {kill} |")
    print(f"| MQTT messages of the server during the load (/metrics) | {soak.sent} |")
    print(f"| ERROR lines in the server's log | {len(soak.log_errors)} {soak.log_errors[:3]} |")
    if soak.counts:
        counts = soak.counts
        print(f"| messages per subscriber (min / median / max of {len(counts)}) | {min(counts)} / "
              f"{statistics.median(counts):.0f} / {max(counts)} |")


if __name__ == "__main__":
    main()
