"""The MQTT broker boards connect to: a managed Mosquitto when installed, else the embedded one. I/O: sockets.

:func:`open_broker` chooses by ``broker.kind``: ``auto`` (Mosquitto when the binary is found and a data dir
is given for its files, else embedded), ``mosquitto`` (an error when it is missing) or ``embedded`` (amqtt,
MIT, pure Python, installs with pip; :mod:`visioncast.broker_embedded` lists what visioncast corrects in it).
Either way the broker has TCP and WebSocket listeners, a message size limit and three logins with the rules
of :mod:`visioncast.broker_acl`: the boards' login (printed as ``user U  password P``: the configured pair,
the siot preset's siot/dfrobot, or a password generated once and kept in the data dir), the server's own
login (the only one that writes the server's topics) and the teacher's (commands). It returns a
:class:`BrokerHandle` (close it to stop). When the port is taken, the handle says what answers there: another
MQTT broker is used as is (``handle.external``, with the boards' login), anything else is a
:class:`~visioncast.errors.ConfigError` with a clear message.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from visioncast.broker_acl import SERVER_USER, TEACHER_USER, Login
from visioncast.config import BrokerConfig
from visioncast.errors import ConfigError

log = logging.getLogger(__name__)

SIOT_USER, SIOT_PASSWORD = "siot", "dfrobot"
KINDS = ("auto", "mosquitto", "embedded")


@dataclass
class BrokerHandle:
    """A running broker: ``kind`` 'mosquitto' or 'embedded' (close() stops it), or 'external' (another broker
    found on the port). ``username``/``password`` are the boards' login; the server publishes with
    ``server_login`` and the teacher sends commands with ``teacher_login`` (both None for an external one)."""

    host: str
    port: int
    ws_port: int
    username: str
    password: str
    anonymous: bool
    external: bool = False
    note: str = ""
    kind: str = "embedded"
    version: str = ""
    tls_port: int = 0
    server_login: Login | None = None
    teacher_login: Login | None = None
    _stop: Callable[[], None] | None = field(default=None, repr=False)
    _drops: Callable[[], dict[str, int]] | None = field(default=None, repr=False)

    def drops(self) -> dict[str, int]:
        """Messages the broker refused to forward, by reason (embedded broker only; {} otherwise)."""
        return self._drops() if self._drops is not None else {}

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
    return cfg.username, stored_password(data_dir, "broker-password")


def stored_password(data_dir: Path | None, name: str) -> str:
    """The password kept in ``<data_dir>/<name>`` (made on first use, mode 600); a fresh one without a dir."""
    if data_dir is None:
        return secrets.token_urlsafe(9)
    path = Path(data_dir) / name
    if path.is_file() and path.read_text(encoding="utf-8").strip():
        return path.read_text(encoding="utf-8").strip()
    password = secrets.token_urlsafe(9)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password + "\n", encoding="utf-8")
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    return password


def logins(cfg: BrokerConfig, data_dir: Path | None) -> list[Login]:
    """The broker's three logins: the server's, the teacher's and the boards' (see broker_acl)."""
    user, password = credentials(cfg, data_dir)
    if user in (SERVER_USER, TEACHER_USER):
        raise ConfigError(f"config 'broker.username' must not be {user!r}: that login is visioncast's own")
    return [Login(SERVER_USER, stored_password(data_dir, "broker-server-password"), "server"),
            Login(TEACHER_USER, stored_password(data_dir, "broker-teacher-password"), "teacher"),
            Login(user, password, "board")]


def open_broker(cfg: BrokerConfig, *, data_dir: Path | None = None, command_filter: str = "visioncast/+/cmd",
                tls: tuple[Path, Path] | None = None) -> BrokerHandle:
    """Start the broker ``cfg.kind`` asks for (or adopt an MQTT broker already on the port).

    ``command_filter`` is the command topics' filter (from the MQTT settings), which only the server's and
    the teacher's logins may write; ``tls`` (certificate, key) adds an MQTT-over-TLS listener on
    ``cfg.tls_port``. ConfigError when it cannot start.
    """
    if cfg.kind not in KINDS:
        raise ConfigError(f"config 'broker.kind' must be one of {', '.join(KINDS)}, got {cfg.kind!r}")
    if cfg.max_message_bytes < 1:
        raise ConfigError(f"config 'broker.max_message_bytes' must be >= 1, got {cfg.max_message_bytes}")
    accounts = logins(cfg, data_dir)
    if logging.getLogger("transitions").level == logging.NOTSET:  # amqtt logs every state change at INFO
        logging.getLogger("transitions").setLevel(logging.WARNING)
    busy = _port_busy(cfg.host, cfg.port)
    if busy:
        return _adopt_existing(cfg, accounts[-1].username, accounts[-1].password, busy)
    ws_port = cfg.ws_port
    if ws_port and _port_busy(cfg.host, ws_port):
        log.warning("WebSocket port %s is taken by %s; starting without MQTT over WebSocket",
                    ws_port, port_owner(ws_port))
        ws_port = 0
    if tls is not None and (not cfg.tls_port or _port_busy(cfg.host, cfg.tls_port)):
        if cfg.tls_port:
            log.warning("TLS port %s is taken by %s; starting without MQTT over TLS",
                        cfg.tls_port, port_owner(cfg.tls_port))
        tls = None
    handle = BrokerHandle(cfg.host, cfg.port, ws_port, accounts[-1].username, accounts[-1].password,
                          cfg.anonymous, server_login=accounts[0], teacher_login=accounts[1],
                          tls_port=cfg.tls_port if tls is not None else 0)
    _start(handle, cfg, accounts, data_dir, (command_filter, tls))
    log.info("%s MQTT broker on %s:%s (ws %s)", handle.kind, cfg.host, cfg.port, ws_port or "off")
    return handle


def _start(handle: BrokerHandle, cfg: BrokerConfig, accounts: list[Login], data_dir: Path | None,
           rules: tuple[str, tuple[Path, Path] | None]) -> None:
    command_filter, tls = rules
    from visioncast import broker_mosquitto as mosq  # noqa: PLC0415 - each kind loads only when chosen

    binary = mosq.find_mosquitto() if cfg.kind in ("auto", "mosquitto") else None
    if cfg.kind == "mosquitto" and binary is None:
        raise ConfigError("config 'broker.kind' is 'mosquitto' but the mosquitto program is not installed "
                          "(apt install mosquitto, or broker.kind = 'auto' to use the embedded broker)")
    if binary is not None and (data_dir is not None or cfg.kind == "mosquitto"):
        folder = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="visioncast-"))
        conf = mosq.write_files(folder / "mosquitto", host=cfg.host, port=cfg.port,
                                ws_port=handle.ws_port, logins=accounts, anonymous=cfg.anonymous,
                                command_filter=command_filter, max_message_bytes=cfg.max_message_bytes,
                                tls=(handle.tls_port, *tls) if tls else None)
        handle._stop = mosq.start_mosquitto(binary, conf, cfg.host, cfg.port)
        handle.kind, handle.version = "mosquitto", mosq.mosquitto_version(binary)
        return
    from visioncast.broker_embedded import EmbeddedSettings, start_embedded  # noqa: PLC0415

    handle._stop, handle._drops = start_embedded(EmbeddedSettings(
        cfg.host, cfg.port, handle.ws_port, accounts, cfg.anonymous, command_filter, cfg.max_message_bytes,
        tls=(handle.tls_port, *tls) if tls else None))
    handle.kind, handle.version = "embedded", "amqtt"


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
    return BrokerHandle(cfg.host, cfg.port, 0, user, password, cfg.anonymous, external=True, note=note,
                        kind="external")


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


def lan_addresses(*, loopback: bool = True) -> list[str]:
    """IPv4 addresses of this machine that boards on the LAN can reach, the default route's first; no traffic.
    ``loopback`` adds 127.0.0.1 last, as a fallback for a machine without a network."""
    found: list[str] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))  # UDP connect sends nothing; it only selects the outgoing interface
        found.append(sock.getsockname()[0])
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(str(info[4][0]))
    addresses = [a for a in dict.fromkeys(found) if not a.startswith(("127.", "0."))]
    return [*addresses, "127.0.0.1"] if loopback else addresses


def board_address(host: str) -> str:
    """The address boards should connect to for a broker listening on ``host``: this machine's LAN address
    when it listens on every network (loopback when it has none), else ``host`` itself."""
    return lan_addresses()[0] if host in ("0.0.0.0", "::", "") else host
