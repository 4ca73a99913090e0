"""MQTT push benchmark: result → subscriber latency (p50/p99) at 30 results/s and the sustained message rate,
through the embedded broker (amqtt) and through Mosquitto (started here on a free loopback port).

Both go through the real path: MqttSink.publish → queue → paho → broker → a paho subscriber in this process.
Run: python bench/bench_mqtt.py [--seconds 10] [--burst 3000]. The machine's CPUs are shared with other work,
so compare the two brokers side by side in one run rather than across runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as paho

from visioncast.broker import open_broker
from visioncast.config import BrokerConfig, MqttConfig
from visioncast.core.types import Classification, Result
from visioncast.sinks.mqtt import MqttSink

USER, PASSWORD = "bench", "bench-pw"
RESULT = Result("classify", "bench", 32, 32,
                classification=Classification([3, 5], [0.9, 0.1], ["cat", "dog"]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int) -> None:
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


@contextmanager
def embedded(port: int) -> Iterator[None]:
    with open_broker(BrokerConfig(host="127.0.0.1", port=port, ws_port=0, username=USER, password=PASSWORD)):
        yield


@contextmanager
def mosquitto(port: int) -> Iterator[None]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with tempfile.TemporaryDirectory() as tmp:
        pw = Path(tmp) / "passwd"
        pw.write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
        subprocess.run(["mosquitto_passwd", "-U", str(pw)], check=True)
        conf = Path(tmp) / "m.conf"
        conf.write_text(f"listener {port} 127.0.0.1\npersistence false\nallow_anonymous false\n"
                        f"password_file {pw}\nuser root\n", encoding="utf-8")
        proc = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            yield
        finally:
            proc.terminate()
            proc.wait(10)


class Receiver:
    def __init__(self, port: int) -> None:
        self.latencies_ms: list[float] = []
        self.count = 0
        self.last_s = 0.0
        ready = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.client.username_pw_set(USER, PASSWORD)
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = self.on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("bench/#")
        self.client.loop_start()
        ready.wait(10)

    def on_message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        now = time.perf_counter()
        self.count += 1
        self.last_s = now
        if msg.topic.endswith("/result"):
            self.latencies_ms.append((now - json.loads(msg.payload)["sent_s"]) * 1000)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def measure(kind: str, seconds: float, burst: int) -> dict[str, float]:
    port = free_port()
    with (embedded if kind == "embedded" else mosquitto)(port):
        sink = MqttSink(MqttConfig(host="127.0.0.1", port=port, username=USER, password=PASSWORD,
                                   prefix="bench", queue_size=burst * 3 + 10))
        sink.wait_connected(10)
        rx = Receiver(port)
        n = int(seconds * 30)
        t0 = time.perf_counter()
        for i in range(n):  # 30 results/s, each: result + label + count
            time.sleep(max(0.0, t0 + i / 30 - time.perf_counter()))
            sink.publish(RESULT, source="lat", sent_s=time.perf_counter())
        time.sleep(1.0)
        lat = sorted(rx.latencies_ms)
        before = rx.count
        t1 = time.perf_counter()
        for _ in range(burst):
            sink.publish(RESULT, source="rate", sent_s=time.perf_counter())
        deadline = time.time() + 30
        while rx.count - before < burst * 3 and time.time() < deadline:
            time.sleep(0.05)
        got = rx.count - before
        rate = got / max(rx.last_s - t1, 1e-9)
        status = sink.status()
        sink.close()
        rx.close()
    return {"n": len(lat), "p50": statistics.median(lat), "p99": lat[int(0.99 * (len(lat) - 1))],
            "max": lat[-1], "rate": rate, "received": got, "sent": burst * 3, "dropped": status["dropped"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="length of the 30 results/s latency run")
    p.add_argument("--burst", type=int, default=3000, help="results published back to back for the rate run")
    args = p.parse_args()
    rows = {kind: measure(kind, args.seconds, args.burst) for kind in ("embedded", "mosquitto")}
    print(f"{'broker':<22}{'results':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'msgs/s':>10}"
          f"{'received':>10}{'dropped':>9}")
    for kind, r in rows.items():
        name = "embedded (amqtt)" if kind == "embedded" else "mosquitto 2"
        print(f"{name:<22}{r['n']:>8}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['max']:>9.2f}{r['rate']:>10.0f}"
              f"{int(r['received']):>6}/{int(r['sent']):<5}{int(r['dropped']):>7}")
    e, m = rows["embedded"], rows["mosquitto"]
    print(f"ratio embedded/mosquitto: p99 latency ×{e['p99'] / m['p99']:.2f}, "
          f"rate ×{e['rate'] / m['rate']:.2f}")


if __name__ == "__main__":
    main()
