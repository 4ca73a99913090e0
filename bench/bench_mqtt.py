"""MQTT push benchmark: does publishing slow inference, and how late do results reach boards?

For each broker visioncast runs (the managed Mosquitto and the embedded one, both started by ``open_broker``
on a free loopback port, with their logins and rules), an inference stream runs for ``--seconds``: yolox-nano
detects ``bus.jpg`` in a loop and every result goes through the real path (``MqttSink.publish`` → queue →
paho → broker) under the server's login. It runs once with no subscriber and once with ``--subscribers``
paho subscribers (the boards' login, each on the stream's ``label`` and ``result`` topics). Printed per
broker: the stream's frame rate with and without subscribers and their ratio (issue 13's target: ≥ 0.90),
p50 / p99 / max result→subscriber latency on one subscriber (target: p99 ≤ 20 ms), and what the sink
dropped. Run: python bench/bench_mqtt.py [--seconds 10] [--subscribers 50]. The machine's CPUs are shared
with other work, so compare within one run; the contention probe before each broker's rounds is printed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import paho.mqtt.client as paho
from contention import describe, probe

from visioncast.broker import BrokerHandle, open_broker
from visioncast.broker_mosquitto import find_mosquitto
from visioncast.config import BrokerConfig, MqttConfig
from visioncast.models import load_model
from visioncast.sinks.mqtt import MqttSink

USER, PASSWORD = "bench", "bench-pw"
IMAGE = Path(__file__).resolve().parents[1] / "tests" / "data" / "bus.jpg"


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A paho subscriber (the boards' login) recording when each ``result`` message arrives."""

    def __init__(self, port: int, latencies: list[float] | None) -> None:
        self.latencies_ms = latencies
        self.count = 0
        ready = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.client.username_pw_set(USER, PASSWORD)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self.on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([("visioncast/stream/label", 0), ("visioncast/stream/result", 0)])
        self.client.loop_start()
        if not ready.wait(10):
            raise TimeoutError("no SUBACK within 10 s")

    def on_message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        self.count += 1
        if self.latencies_ms is not None and msg.topic.endswith("/result"):
            sent_s = json.loads(msg.payload)["sent_s"]
            self.latencies_ms.append((time.monotonic() - sent_s) * 1000)  # one clock for every process

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def stream(detector: Any, sink: MqttSink, seconds: float) -> float:
    """Detect and publish for ``seconds``; the frame rate (results/s)."""
    image = cv2.imread(str(IMAGE))
    frames, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        result = detector.detect(image)
        sink.publish(result, source="stream", sent_s=time.monotonic())
        frames += 1
    return frames / (time.perf_counter() - t0)


def subscribers(port: int, n: int, ready: Any, stop: Any, out: Any) -> None:
    """In a process of its own (boards are other machines: their clients must not share the stream's GIL):
    ``n`` subscribers until ``stop``; the first one's latencies go to ``out``."""
    latencies: list[float] = []
    receivers = [Receiver(port, latencies if i == 0 else None) for i in range(n)]
    ready.set()
    stop.wait(120)
    for rx in receivers:
        rx.close()
    out.put(latencies)


def round_on(handle: BrokerHandle, detector: Any, seconds: float, n: int) -> dict[str, float]:
    login = handle.server_login
    assert login is not None
    sink = MqttSink(MqttConfig(host="127.0.0.1", port=handle.port, username=login.username,
                               password=login.password))
    if not sink.wait_connected(10):
        raise RuntimeError(f"sink not connected: {sink.error}")
    ctx = mp.get_context("spawn")
    ready, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    child = ctx.Process(target=subscribers, args=(handle.port, n, ready, stop, out)) if n else None
    latencies: list[float] = []
    try:
        if child is not None:
            child.start()
            if not ready.wait(60):
                raise TimeoutError("the subscribers did not connect within 60 s")
        fps = stream(detector, sink, seconds)
        sink.flush(5)
        time.sleep(1.0)
    finally:
        stop.set()
        if child is not None:
            latencies = out.get(timeout=60)
            child.join(30)
        status = sink.status()
        sink.close()
    lat = sorted(latencies) or [float("nan")]
    return {"fps": fps, "p50": statistics.median(lat), "p99": lat[int(0.99 * (len(lat) - 1))], "max": lat[-1],
            "n": len(latencies), "dropped": status["dropped"]}


def measure(kind: str, detector: Any, seconds: float, subscribers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        cfg = BrokerConfig(kind=kind, host="127.0.0.1", port=free_port(), ws_port=0, username=USER,
                           password=PASSWORD)
        with open_broker(cfg, data_dir=Path(data)) as handle:
            print(f"{kind}: {describe(probe())}", flush=True)
            alone = round_on(handle, detector, seconds, 0)
            crowd = round_on(handle, detector, seconds, subscribers)
            return {"version": handle.version, "alone": alone, "crowd": crowd}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="length of each stream round")
    p.add_argument("--subscribers", type=int, default=50)
    args = p.parse_args()
    detector = load_model("yolox-nano")
    kinds = ["mosquitto", "embedded"] if find_mosquitto() else ["embedded"]
    rows = {kind: measure(kind, detector, args.seconds, args.subscribers) for kind in kinds}
    print(f"{'broker':<20}{'fps alone':>10}{f'fps {args.subscribers} subs':>13}{'ratio':>7}"
          f"{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'results':>8}{'dropped':>8}")
    for r in rows.values():
        a, c = r["alone"], r["crowd"]
        print(f"{r['version']:<20}{a['fps']:>10.1f}{c['fps']:>13.1f}{c['fps'] / a['fps']:>7.2f}"
              f"{c['p50']:>8.2f}{c['p99']:>8.2f}{c['max']:>8.2f}{c['n']:>8}{c['dropped']:>8}")


if __name__ == "__main__":
    main()
