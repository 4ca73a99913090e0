"""Real MQTT peers for the tests: a Mosquitto started on a free loopback port, and a paho subscriber.

Never the machine's own Mosquitto on 1883: every broker here is started by the test on a port of its own.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as paho
import pytest

WAIT_S = 10.0


PORTS_FROM = 20000  # test servers' ports: from here to the start of the OS's ephemeral range
_ports = random.Random()  # seeded from the OS: two runs on one machine choose different ports
_given: set[int] = set()


def free_port() -> int:
    """A TCP port that nothing holds on any address right now, below the OS's ephemeral range and not given
    before in this process. A port from ``bind(0)`` is an ephemeral one, which the OS may hand to any
    outgoing connection (a client of another test, another process) between the test choosing it and its
    server binding it: the server then finds it taken."""
    top = _ephemeral_start()
    for _ in range(500):
        port = _ports.randrange(PORTS_FROM, top)
        if port in _given:
            continue
        with socket.socket() as s:  # no SO_REUSEADDR: a port in TIME_WAIT counts as held
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free TCP port between {PORTS_FROM} and {top}")


def _ephemeral_start() -> int:
    """The first port the OS gives outgoing connections (Linux: ip_local_port_range; IANA's 49152 else)."""
    with contextlib.suppress(OSError, ValueError):
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    return 49152


def wait_port(port: int, timeout_s: float = WAIT_S, host: str = "127.0.0.1") -> None:
    """Wait until host:port accepts TCP connections."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s} s")


@contextmanager
def mosquitto(tmp: Path, port: int, users: dict[str, str] | None = None,
              host: str = "127.0.0.1") -> Iterator[subprocess.Popen[bytes]]:
    """A Mosquitto on host:port (password file when ``users``, anonymous otherwise); skip if missing."""
    sbin = Path("/usr/sbin/mosquitto")  # not on a normal user's PATH on Debian
    binary = shutil.which("mosquitto") or (str(sbin) if sbin.exists() else None)
    if binary is None:
        pytest.skip("Mosquitto is not installed (apt install mosquitto)")
    lines = [f"listener {port} {host}", "persistence false"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        lines.append("user root")  # else it drops to user 'mosquitto', who cannot read pytest's tmp dir
    if users:
        pw = tmp / f"passwd-{port}"
        pw.write_text("".join(f"{u}:{p}\n" for u, p in users.items()), encoding="utf-8")
        subprocess.run([shutil.which("mosquitto_passwd") or "mosquitto_passwd", "-U", str(pw)], check=True,
                       timeout=WAIT_S)
        lines += ["allow_anonymous false", f"password_file {pw}"]
    else:
        lines.append("allow_anonymous true")
    conf = tmp / f"mosquitto-{port}.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            wait_port(port, host=host)
        except TimeoutError:
            proc.terminate()
            raise TimeoutError(f"mosquitto did not start: {proc.communicate(timeout=WAIT_S)[1]!r}") from None
        yield proc
    finally:
        proc.terminate()
        proc.wait(WAIT_S)
        if proc.stderr is not None:
            proc.stderr.close()


def client(transport: str = "tcp") -> paho.Client:
    """A paho 2 client over TCP or MQTT-over-WebSocket (path /, as the embedded broker prints it)."""
    made = paho.Client(paho.CallbackAPIVersion.VERSION2, transport=transport)  # type: ignore[arg-type]
    if transport == "websockets":
        made.ws_set_options(path="/")
    return made


class Subscriber:
    """A paho client that records (topic, payload bytes) of everything under ``topic_filter``."""

    def __init__(self, port: int, topic_filter: str, user: str = "", password: str = "",
                 transport: str = "tcp", *, host: str = "127.0.0.1") -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.retained: list[tuple[str, bytes]] = []  # those the broker marked retained: kept, not live
        self._cond = threading.Condition()
        self.client = client(transport)
        if user:
            self.client.username_pw_set(user, password)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        # from ``host`` itself, as a board on the LAN arrives when ``host`` is the LAN address
        self.client.connect(host, port, keepalive=30, bind_address="" if host == "127.0.0.1" else host)
        self.client.subscribe(topic_filter, qos=1)
        self.client.loop_start()
        if not subscribed.wait(WAIT_S):
            self.close()
            raise TimeoutError(f"no SUBACK for {topic_filter!r} within {WAIT_S} s")

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload)))
            if msg.retain:
                self.retained.append((msg.topic, bytes(msg.payload)))
            self._cond.notify_all()

    def payloads(self, topic: str) -> list[bytes]:
        with self._cond:
            return [p for t, p in self.messages if t == topic]

    def wait_for(self, predicate: Callable[[list[tuple[str, bytes]]], bool],
                 timeout_s: float = WAIT_S) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.messages), timeout_s):
                raise TimeoutError(f"condition not met within {timeout_s} s; got {self.messages[-10:]!r}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        # The client holds this subscriber (its on_message) and this subscriber the client: left so, only the
        # cycle collector frees them, in any order, and a socket it frees before the client is "unclosed".
        self.client.on_message = None


def login_result(port: int, user: str, password: str, transport: str = "tcp") -> str:
    """The CONNACK reason a paho client gets for this login ('Success', 'Not authorized', …)."""
    result: list[str] = []
    done = threading.Event()
    peer = client(transport)
    peer.username_pw_set(user, password)
    peer.on_connect = lambda _c, _u, _f, reason, _p: (result.append(str(reason)), done.set())
    peer.connect("127.0.0.1", port)
    peer.loop_start()
    try:
        if not done.wait(WAIT_S):
            raise TimeoutError("no CONNACK")
    finally:
        peer.disconnect()
        peer.loop_stop()
    return result[0]


class StallingProxy:
    """A TCP proxy on a free loopback port to ``127.0.0.1:target``; ``stall()`` stops forwarding in both
    directions while keeping every connection open (a half-open link: Wi-Fi gone, a NAT entry dropped),
    ``resume()`` forwards again (new connections; stalled ones stay dead). ``freeze()`` holds every byte of
    every connection, old and new, and ``thaw()`` lets it all through at once (a broker that stops for a
    while, as under SIGSTOP)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._generation = 0
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, name="stalling-proxy", daemon=True).start()

    def stall(self) -> None:
        self._generation += 1  # connections made before now never forward again
        self._forwarding.clear()

    def resume(self) -> None:
        self._forwarding.set()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            if not self._forwarding.is_set():
                self._socks.append(conn)  # accepted, never answered: a broker behind a dead link
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=WAIT_S)
            except OSError:
                conn.close()
                continue
            self._socks += [conn, upstream]
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b, self._generation), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, generation: int) -> None:
        src.settimeout(0.1)
        while not self._closed.is_set():
            if generation != self._generation or not self._flowing.is_set():
                time.sleep(0.05)  # stalled or frozen: bytes stay in the kernel buffers, nobody reads them
                continue
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            try:
                dst.sendall(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._closed.set()
        self._server.close()
        for sock in self._socks:
            with contextlib.suppress(OSError):
                sock.close()


class BlackHole:
    """A listener on a free loopback port that accepts every connection and never answers (a broker's host
    whose broker hangs, a firewall that swallows packets after the handshake); ``connections`` counts them."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, name="black-hole", daemon=True).start()

    @property
    def connections(self) -> int:
        return len(self._socks)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self._socks.append(conn)

    def close(self) -> None:
        self._server.close()
        for sock in self._socks:
            with contextlib.suppress(OSError):
                sock.close()
