"""MQTT push benchmark: does publishing slow inference, and does every board get every result, how late?

For each broker visioncast runs (the managed Mosquitto and the embedded one, both started by ``open_broker``
on a free loopback port, with their logins and rules), an inference stream runs for ``--seconds``: yolox-nano
detects ``bus.jpg`` in a loop and every result goes through the real path (``MqttSink.publish`` → queue →
paho → broker) under the server's login. Rounds: the stream alone, then with ``--subscribers`` subscribers at
QoS 0 and at QoS 1 (the push's ``mqtt.qos`` and the subscription's). The subscribers are C clients,
``mosquitto_sub -F '%U %p'`` (the boards' login, the stream's ``result`` topic), each its own process printing
the Unix time it received each message, so the harness is not the bottleneck: the latency of a message is
its receive time minus the ``sent_at`` the server put in it (one clock, one machine).

Printed per broker and QoS: the stream's frame rate alone and with subscribers and their ratio (issue 21's
target: ≥ 0.9), p50 / p99 / max over every delivery to every subscriber (targets on the managed Mosquitto
with 50 subscribers: p99 ≤ 20 ms at QoS 0, ≤ 50 ms at QoS 1), the worst subscriber's p99, and delivery:
results published, and the fewest any subscriber received (target: every subscriber gets every one).
Run: python bench/bench_mqtt.py [--seconds 10] [--subscribers 50]. The machine's CPUs are shared with other
work, so compare within one run; the contention probe before each broker's rounds is printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import paho.mqtt.client as paho
from contention import describe, probe

from visioncast.broker import BrokerHandle, open_broker
from visioncast.broker.mosquitto import find_mosquitto
from visioncast.config import BrokerConfig, MqttConfig
from visioncast.models import load_model
from visioncast.sinks.mqtt import MqttSink

USER, PASSWORD = "bench", "bench-pw"
IMAGE = Path(__file__).resolve().parents[1] / "tests" / "data" / "bus.jpg"
TOPIC, PROBE = "visioncast/stream/result", "visioncast/stream/probe"


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Subscribers:
    """``n`` mosquitto_sub processes, each writing "<receive Unix time> <payload>" lines to its own file."""

    procs: list[subprocess.Popen[bytes]]
    files: list[Path]

    @classmethod
    def start(cls, port: int, n: int, qos: int, folder: Path) -> Subscribers:
        binary = shutil.which("mosquitto_sub")
        if binary is None:
            raise SystemExit("mosquitto_sub is needed (apt install mosquitto-clients)")
        files = [folder / f"sub-{qos}-{i}.txt" for i in range(n)]
        procs = [subprocess.Popen([binary, "-h", "127.0.0.1", "-p", str(port), "-u", USER, "-P", PASSWORD,
                                   "-i", f"bench-{qos}-{i}", "-q", str(qos), "-t", TOPIC, "-t", PROBE,
                                   "-F", "%U %t %p"], stdout=f.open("wb"), stderr=subprocess.DEVNULL)
                 for i, f in enumerate(files)]
        return cls(procs, files)

    def wait_subscribed(self, handle: BrokerHandle, timeout_s: float = 60) -> None:
        """Publish probes until every subscriber printed one (mosquitto_sub does not say it subscribed)."""
        login = handle.server_login
        assert login is not None
        client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        client.username_pw_set(login.username, login.password)
        client.connect("127.0.0.1", handle.port)
        client.loop_start()
        deadline = time.monotonic() + timeout_s
        try:
            while not all(f.stat().st_size > 0 for f in self.files):
                if time.monotonic() > deadline:
                    raise TimeoutError("the subscribers did not all subscribe within 60 s")
                client.publish(PROBE, b"probe", qos=1)
                time.sleep(0.2)
        finally:
            client.disconnect()
            client.loop_stop()

    def stop(self) -> list[list[tuple[int, float]]]:
        """Stop them; per subscriber, (frame, latency ms) of each result received."""
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(30)
        out = []
        for path in self.files:
            got = []
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                when, topic, payload = line.split(" ", 2)
                if topic == TOPIC:
                    data = json.loads(payload)
                    got.append((int(data["frame"]), (float(when) - float(data["sent_at"])) * 1000))
            out.append(got)
        return out


def stream(detector: Any, sink: MqttSink, seconds: float) -> tuple[float, int]:
    """Detect and publish for ``seconds``: (frame rate, results published)."""
    image = cv2.imread(str(IMAGE))
    frames, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sink.publish(detector(image), source="stream")
        frames += 1
    return frames / (time.perf_counter() - t0), frames


def round_on(handle: BrokerHandle, detector: Any, seconds: float, n: int, qos: int) -> dict[str, Any]:
    login = handle.server_login
    assert login is not None
    sink = MqttSink(MqttConfig(host="127.0.0.1", port=handle.port, username=login.username,
                               password=login.password, qos=qos)).start()
    if not sink.wait_connected(10):
        raise RuntimeError(f"sink not connected: {sink.error}")
    with tempfile.TemporaryDirectory() as folder:
        subs = Subscribers.start(handle.port, n, qos, Path(folder)) if n else None
        try:
            if subs is not None:
                subs.wait_subscribed(handle)
            fps, published = stream(detector, sink, seconds)
            sink.flush(10)
            time.sleep(1.0)  # the last deliveries
        finally:
            got = subs.stop() if subs is not None else []
            status = sink.status()
            sink.close()
    every = sorted(ms for sub in got for _, ms in sub) or [float("nan")]
    per_sub_p99 = [sorted(ms for _, ms in sub)[int(0.99 * (len(sub) - 1))] for sub in got if sub]
    fewest = min((len({frame for frame, _ in sub}) for sub in got), default=0)
    return {"fps": fps, "published": published, "fewest": fewest,
            "p50": statistics.median(every), "p99": every[int(0.99 * (len(every) - 1))], "max": every[-1],
            "worst_p99": max(per_sub_p99, default=float("nan")), "dropped": status["dropped"]}


def measure(kind: str, detector: Any, seconds: float, subscribers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        cfg = BrokerConfig(kind=kind, host="127.0.0.1", port=free_port(), ws_port=0, tls_port=0,
                           username=USER, password=PASSWORD)
        with open_broker(cfg, data_dir=Path(data)) as handle:
            print(f"{kind}: {describe(probe())}", flush=True)
            alone = round_on(handle, detector, seconds, 0, 0)
            rounds = {qos: round_on(handle, detector, seconds, subscribers, qos) for qos in (0, 1)}
            return {"version": handle.version or kind, "alone": alone, "rounds": rounds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0, help="length of each stream round")
    p.add_argument("--subscribers", type=int, default=50)
    p.add_argument("--brokers", default="mosquitto,embedded", help="which brokers, comma-separated")
    args = p.parse_args()
    detector = load_model("yolox-nano")
    kinds = [k for k in args.brokers.split(",") if k != "mosquitto" or find_mosquitto()]
    rows = {kind: measure(kind, detector, args.seconds, args.subscribers) for kind in kinds}
    print(f"{'broker':<18}{'QoS':>4}{'fps alone':>10}{f'fps {args.subscribers} subs':>13}{'ratio':>7}"
          f"{'p50 ms':>8}{'p99 ms':>8}{'max ms':>9}{'worst sub p99':>14}{'published':>10}{'fewest got':>11}"
          f"{'dropped':>8}")
    for r in rows.values():
        a = r["alone"]
        for qos, c in r["rounds"].items():
            print(f"{r['version']:<18}{qos:>4}{a['fps']:>10.1f}{c['fps']:>13.1f}{c['fps'] / a['fps']:>7.2f}"
                  f"{c['p50']:>8.1f}{c['p99']:>8.1f}{c['max']:>9.1f}{c['worst_p99']:>14.1f}"
                  f"{c['published']:>10}{c['fewest']:>11}{c['dropped']:>8}")


if __name__ == "__main__":
    main()
