"""The embedded MQTT broker: boards on the LAN subscribe here to the results visioncast pushes. I/O: sockets.

It wraps **amqtt** (MIT, pure Python on asyncio, maintained by the Yakifo organisation, releases in 2025), so
it installs with pip and runs the same on Linux, Windows and macOS. Alternatives considered: the Mosquitto
binary is the reference broker (and the tests use it as a second peer) but it is not pip-installable and needs
a system package or an installer per OS; hbmqtt, amqtt's ancestor, has been abandoned since 2019 and breaks on
current Python; gmqtt and paho-mqtt are clients only. amqtt speaks MQTT 3.1.1 over TCP and over WebSocket (for
browser dashboards), which is what boards (umqtt, OBLOQ, Mind+) use.

:func:`open_broker` starts it in its own thread with its own asyncio loop and returns a :class:`BrokerHandle`
(close it to stop: listeners closed, thread joined). Clients log in with a username and password (generated
once and kept in the data dir unless configured; the ``siot`` preset is siot/dfrobot like SIoT); anonymous
access only when switched on. When the port is taken, the handle says what answers there: another MQTT broker
is used as is (``handle.external``), anything else is a :class:`~visioncast.errors.ConfigError` with a clear
message.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visioncast.config import BrokerConfig
from visioncast.errors import ConfigError

log = logging.getLogger(__name__)

SIOT_USER, SIOT_PASSWORD = "siot", "dfrobot"
START_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 3.0


try:  # amqtt is a declared dependency; the plugin class must exist before the broker loads it by name
    from amqtt.broker import Broker as _AmqttBroker
    from amqtt.plugins.base import BaseAuthPlugin
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError("the embedded broker needs amqtt: pip install 'amqtt>=0.11'") from exc


class PasswordAuthPlugin(BaseAuthPlugin):
    """amqtt auth plugin: a fixed user → password table (constant-time compare); anonymous when allowed."""

    @dataclass
    class Config:
        users: dict[str, str] = field(default_factory=dict)
        allow_anonymous: bool = False

    async def authenticate(self, *, session: Any) -> bool:
        if not session.username:
            return bool(self.config.allow_anonymous)
        expected = self.config.users.get(session.username)
        return expected is not None and hmac.compare_digest(expected, session.password or "")


class _Broker(_AmqttBroker):
    """amqtt's Broker that closes its clients' connections first on shutdown (amqtt alone may leave them
    open, so clients would not notice the broker is gone, or wait forever on one of them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: set[Any] = set()

    async def stream_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                               listener_name: str) -> None:
        self._connections.add(writer)
        try:
            await super().stream_connected(reader, writer, listener_name)
        finally:
            self._connections.discard(writer)
            writer.close()  # amqtt leaves it open when a session fails to start

    async def ws_connected(self, websocket: Any, listener_name: str) -> None:
        self._connections.add(websocket)
        try:
            await super().ws_connected(websocket, listener_name)
        finally:
            self._connections.discard(websocket)

    async def shutdown(self) -> None:
        # Close the clients first: amqtt's own shutdown can wait forever on a client's reader task.
        for conn in list(self._connections):
            result = conn.close()
            if asyncio.iscoroutine(result):  # a WebSocket closes with a handshake
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(result, 1.0)
        await asyncio.sleep(0.05)  # transports close their sockets in a callback of the next loop turn
        try:
            await asyncio.wait_for(super().shutdown(), SHUTDOWN_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("the embedded broker did not shut down within %s s; stopping anyway",
                        SHUTDOWN_TIMEOUT_S)


@dataclass
class BrokerHandle:
    """A running broker: the embedded one (close() stops it) or another found on the port (``external``)."""

    host: str
    port: int
    ws_port: int
    username: str
    password: str
    anonymous: bool
    external: bool = False
    note: str = ""
    _stop: Any = field(default=None, repr=False)

    def close(self) -> None:
        """Stop the embedded broker and join its thread (no-op for an external one). Idempotent."""
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def __enter__(self) -> BrokerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def credentials(cfg: BrokerConfig, data_dir: Path | None) -> tuple[str, str]:
    """(username, password): the siot preset, the configured pair, or a password generated once per data dir.
    """
    if cfg.preset == "siot":
        return SIOT_USER, SIOT_PASSWORD
    if cfg.preset:
        raise ConfigError(f"config 'broker.preset' must be '' or 'siot', got {cfg.preset!r}")
    if cfg.password:
        return cfg.username, cfg.password
    if data_dir is None:
        return cfg.username, secrets.token_urlsafe(9)
    path = Path(data_dir) / "broker-password"
    if path.is_file() and path.read_text(encoding="utf-8").strip():
        return cfg.username, path.read_text(encoding="utf-8").strip()
    password = secrets.token_urlsafe(9)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password + "\n", encoding="utf-8")
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    return cfg.username, password


def open_broker(cfg: BrokerConfig, *, data_dir: Path | None = None) -> BrokerHandle:
    """Start the embedded broker (or adopt an MQTT broker already on the port); ConfigError otherwise."""
    user, password = credentials(cfg, data_dir)
    if logging.getLogger("transitions").level == logging.NOTSET:  # amqtt logs every state change at INFO
        logging.getLogger("transitions").setLevel(logging.WARNING)
    busy = _port_busy(cfg.host, cfg.port)
    if busy:
        return _adopt_existing(cfg, user, password, busy)
    ws_port = cfg.ws_port
    if ws_port and _port_busy(cfg.host, ws_port):
        log.warning("WebSocket port %s is taken by %s; starting without MQTT over WebSocket",
                    ws_port, port_owner(ws_port))
        ws_port = 0
    handle = BrokerHandle(cfg.host, cfg.port, ws_port, user, password, cfg.anonymous)
    handle._stop = _start_thread(_amqtt_config(cfg.host, cfg.port, ws_port, {user: password}, cfg.anonymous))
    log.info("embedded MQTT broker on %s:%s (ws %s)", cfg.host, cfg.port, ws_port or "off")
    return handle


def _amqtt_config(host: str, port: int, ws_port: int, users: dict[str, str],
                  anonymous: bool) -> dict[str, Any]:
    listeners: dict[str, Any] = {"default": {"type": "tcp", "bind": f"{host}:{port}"}}
    if ws_port:
        listeners["ws"] = {"type": "ws", "bind": f"{host}:{ws_port}"}
    plugin = f"{__name__}.{PasswordAuthPlugin.__name__}"
    return {"listeners": listeners, "plugins": {plugin: {"users": users, "allow_anonymous": anonymous}}}


def _start_thread(amqtt_config: dict[str, Any]) -> Any:
    """Run the broker on a new loop in a thread; return the function that stops it and joins the thread."""
    started = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        state["loop"], state["stop"] = asyncio.get_running_loop(), stop
        broker = _Broker(amqtt_config, loop=state["loop"])
        try:
            await broker.start()
        except Exception as exc:  # noqa: BLE001 - amqtt wraps everything in BrokerError; reported to the caller
            state["error"] = exc
            started.set()
            return
        started.set()
        await stop.wait()
        await broker.shutdown()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="visioncast-broker", daemon=True)
    thread.start()
    if not started.wait(START_TIMEOUT_S) or "error" in state:
        thread.join(START_TIMEOUT_S)
        raise ConfigError(f"the embedded MQTT broker did not start: {state.get('error', 'timed out')}")

    def stop() -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed
            state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(START_TIMEOUT_S)

    return stop


def _port_busy(host: str, port: int) -> str:
    """'' when ``host:port`` can be bound now, else the OS reason."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return "in use" if exc.errno == errno.EADDRINUSE else str(exc)
    return ""


def _adopt_existing(cfg: BrokerConfig, user: str, password: str, busy: str) -> BrokerHandle:
    owner = port_owner(cfg.port)
    if busy != "in use":
        raise ConfigError(f"cannot listen on {cfg.host}:{cfg.port}: {busy}")
    answer = probe_mqtt("127.0.0.1" if cfg.host in ("0.0.0.0", "") else cfg.host, cfg.port, user, password)
    if not answer.startswith("MQTT"):
        raise ConfigError(
            f"port {cfg.port} is taken by {owner} and it does not answer MQTT ({answer}); "
            f"stop it or choose another port with --broker-port")
    note = f"port {cfg.port} is taken by {owner}, which answers {answer}; using that broker instead"
    log.warning("%s", note)
    return BrokerHandle(cfg.host, cfg.port, 0, user, password, cfg.anonymous, external=True, note=note)


_CONNACK_CODES = {0: "accepted", 1: "bad protocol version", 2: "client id rejected", 3: "server unavailable",
                  4: "bad user name or password", 5: "not authorized"}


def probe_mqtt(host: str, port: int, user: str = "", password: str = "", timeout_s: float = 2.0) -> str:
    """Send an MQTT 3.1.1 CONNECT; 'MQTT (CONNACK: …)' when it answers MQTT, else what came back (or None)."""
    flags, payload = 0x02, _mqtt_str("visioncast-probe-" + secrets.token_hex(3))
    if user:
        flags |= 0x80 | (0x40 if password else 0)
        payload += _mqtt_str(user) + (_mqtt_str(password) if password else b"")
    body = _mqtt_str("MQTT") + bytes([4, flags, 0, 10]) + payload
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(bytes([0x10, len(body)]) + body)
            reply = sock.recv(4)
            if len(reply) == 4 and reply[0] == 0x20:
                with contextlib.suppress(OSError):
                    sock.sendall(b"\xe0\x00")  # DISCONNECT
                return f"MQTT (CONNACK: {_CONNACK_CODES.get(reply[3], reply[3])})"
            return f"got {reply!r}" if reply else "connection closed without an answer"
    except OSError as exc:
        return f"no MQTT answer: {exc}"


def _mqtt_str(text: str) -> bytes:
    data = text.encode("utf-8")
    return len(data).to_bytes(2, "big") + data


def port_owner(port: int) -> str:
    """Who listens on TCP ``port``, as far as this OS lets us tell (Linux: /proc of our own user)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return "another program"
    for pid in filter(str.isdigit, _listdir("/proc")):
        for fd in _listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    name = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
                    return f"'{name}' (pid {pid})"
    return "a program of another user (process not visible)"


def _listening_inodes(port: int) -> set[str]:
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text(encoding="ascii").splitlines()[1:]:
                cols = line.split()
                if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    found.add(cols[9])
    return found


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def lan_addresses() -> list[str]:
    """IPv4 addresses of this machine that boards on the LAN can reach (loopback last, as a fallback)."""
    found: list[str] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))  # UDP connect sends nothing; it only selects the outgoing interface
        found.append(sock.getsockname()[0])
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(str(info[4][0]))
    addresses = [a for a in dict.fromkeys(found) if not a.startswith("127.")]
    return [*addresses, "127.0.0.1"]
