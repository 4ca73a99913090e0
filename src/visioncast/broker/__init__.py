"""The MQTT broker boards connect to: a managed Mosquitto when installed, else the embedded one. I/O: sockets.

:func:`open_broker` chooses by ``broker.kind``: ``auto`` (Mosquitto when the binary is found and a data dir
is given for its files, else embedded), ``mosquitto`` (an error when it is missing) or ``embedded`` (amqtt,
MIT, pure Python, installs with pip; :mod:`visioncast.broker.embedded` lists what visioncast corrects in it).
Either way the broker has TCP and WebSocket listeners, message, packet and connection limits (the embedded
broker checks every packet with :mod:`visioncast.broker.gate`) and three logins with the rules of
:mod:`visioncast.broker.acl`: the boards' login (printed as ``user U  password P``: the configured pair,
the siot preset's siot/dfrobot, or a password generated once and kept in the data dir), the server's own
login (the only one that writes the server's topics) and the teacher's (commands). It returns a
:class:`BrokerHandle` (close it to stop; ``up()`` and ``restarts`` for /readyz and /metrics: a managed
Mosquitto that stops without being asked is started again, see :class:`~visioncast.broker.mosquitto.
ManagedMosquitto`). When the port is taken (:mod:`visioncast.broker.port` tells by
whom), visioncast's own broker already running there is used as is (``handle.external``, with this data
dir's logins); a broker whose logins visioncast does not manage, or any other program, is never used: the
broker starts on the next free port when the caller allows it (``move``), else a
:class:`~visioncast.errors.ConfigError` says how to choose another.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from visioncast.broker.acl import SERVER_USER, TEACHER_USER, Login
from visioncast.broker.port import FOREIGN, FREE, OTHER, OURS, PortCheck, choose_broker_port
from visioncast.config import BrokerConfig
from visioncast.errors import ConfigError
from visioncast.network import local_address, port_owner, port_taken

log = logging.getLogger(__name__)

SIOT_USER, SIOT_PASSWORD = "siot", "dfrobot"
KINDS = ("auto", "mosquitto", "embedded")


class Runner(Protocol):
    """A running broker: the embedded one's thread or a managed Mosquitto process."""

    restarts: int

    def up(self) -> bool: ...

    def drops(self) -> dict[str, int]: ...

    def stop(self) -> None: ...


@dataclass
class BrokerHandle:
    """A running broker: ``kind`` 'mosquitto' or 'embedded' (close() stops it), or 'external' (visioncast's
    broker found already running on the port, not stopped by close()). ``username``/``password`` are the
    boards' login; the server publishes with ``server_login`` and the teacher sends commands with
    ``teacher_login``. ``note``: why the port is not the configured one, or that the broker was found."""

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
    runner: Runner | None = field(default=None, repr=False)

    def drops(self) -> dict[str, int]:
        """What the broker refused, by reason (embedded broker only; {} otherwise): messages not forwarded
        (too_large, slow_subscriber), connections closed (oversized, malformed, connection_limit)."""
        return self.runner.drops() if self.runner is not None else {}

    def up(self) -> bool:
        """The broker runs and listens (True for an external one: not ours to watch)."""
        return self.runner.up() if self.runner is not None else self.external

    @property
    def restarts(self) -> int:
        """How often a managed Mosquitto was started again after it stopped without being asked."""
        return self.runner.restarts if self.runner is not None else 0

    def close(self) -> None:
        """Stop the broker (no-op for an external one). Idempotent."""
        runner, self.runner = self.runner, None
        if runner is not None:
            runner.stop()

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
    """The broker's three logins: the server's, the teacher's and the boards' (see broker.acl)."""
    user, password = credentials(cfg, data_dir)
    if user in (SERVER_USER, TEACHER_USER):
        raise ConfigError(f"config 'broker.username' must not be {user!r}: that login is visioncast's own")
    return [Login(SERVER_USER, stored_password(data_dir, "broker-server-password"), "server"),
            Login(TEACHER_USER, stored_password(data_dir, "broker-teacher-password"), "teacher"),
            Login(user, password, "board")]


def open_broker(cfg: BrokerConfig, *, data_dir: Path | None = None, command_filter: str = "visioncast/+/cmd",
                tls: tuple[Path, Path] | None = None, move: bool = False,
                port_option: str = "broker.port") -> BrokerHandle:
    """Start the broker ``cfg.kind`` asks for, or use visioncast's own broker already on the port.

    ``command_filter`` is the command topics' filter (from the MQTT settings), which only the server's and
    the teacher's logins may write; ``tls`` (certificate, key) adds an MQTT-over-TLS listener on
    ``cfg.tls_port``. When the port is held by anything else (:mod:`visioncast.broker.port`): with ``move``
    the broker starts on the next usable port (``handle.note`` says so), else a ConfigError naming
    ``port_option``, the way to choose another. ConfigError when it cannot start.
    """
    if cfg.kind not in KINDS:
        raise ConfigError(f"config 'broker.kind' must be one of {', '.join(KINDS)}, got {cfg.kind!r}")
    if cfg.max_message_bytes < 1:
        raise ConfigError(f"config 'broker.max_message_bytes' must be >= 1, got {cfg.max_message_bytes}")
    accounts = logins(cfg, data_dir)
    quiet = {"transitions": logging.WARNING,  # amqtt logs every state change at INFO
             "amqtt.mqtt.protocol.handler": logging.ERROR}  # and a warning per packet a client gets wrong
    for name, level in quiet.items():
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(level)
    first, chosen = choose_broker_port(cfg, accounts, move=move)
    if chosen.state == OURS:
        return _adopt_ours(cfg, chosen, accounts)
    if chosen.state != FREE:
        raise ConfigError(_refusal(first, local_address(cfg.host), port_option))
    port = chosen.port
    ws_port = cfg.ws_port
    if ws_port and port_taken(cfg.host, ws_port):
        log.warning("WebSocket port %s is taken by %s; starting without MQTT over WebSocket",
                    ws_port, port_owner(ws_port))
        ws_port = 0
    if tls is not None and (not cfg.tls_port or port_taken(cfg.host, cfg.tls_port)):
        if cfg.tls_port:
            log.warning("TLS port %s is taken by %s; starting without MQTT over TLS",
                        cfg.tls_port, port_owner(cfg.tls_port))
        tls = None
    handle = BrokerHandle(cfg.host, port, ws_port, accounts[-1].username, accounts[-1].password,
                          cfg.anonymous, server_login=accounts[0], teacher_login=accounts[1],
                          tls_port=cfg.tls_port if tls is not None else 0,
                          note="" if chosen is first else _moved(first, port, port_option))
    _start(handle, dataclasses.replace(cfg, port=port), accounts, data_dir, (command_filter, tls))
    log.info("%s MQTT broker on %s:%s (ws %s)", handle.kind, cfg.host, port, ws_port or "off")
    return handle


def _adopt_ours(cfg: BrokerConfig, check: PortCheck, accounts: list[Login]) -> BrokerHandle:
    """The broker already on the port has this data dir's logins (``visioncast broker`` running, say):
    use it with them."""
    note = (f"port {check.port} already runs visioncast's broker ({check.owner}, it accepts the server's "
            f"login); using it")
    return BrokerHandle(cfg.host, check.port, 0, accounts[-1].username, accounts[-1].password, cfg.anonymous,
                        external=True, note=note, kind="external", server_login=accounts[0],
                        teacher_login=accounts[1])


def _refusal(check: PortCheck, host: str, port_option: str) -> str:
    """The one line serve stops with when the port it was told to use is not free or ours."""
    if check.state == FOREIGN:
        return (f"{check.describe()}: choose another port with {port_option}, or push to that broker with "
                f"--mqtt mqtt://USER:PASSWORD@{host}:{check.port} (its own login)")
    if check.state == OTHER:
        return f"{check.describe()}: stop it or choose another port with {port_option}"
    return f"cannot listen on port {check.port}: {check.detail} (choose another port with {port_option})"


def _moved(check: PortCheck, port: int, port_option: str) -> str:
    return f"{check.describe()}: visioncast's broker listens on port {port} instead ({port_option} chooses)"


def _start(handle: BrokerHandle, cfg: BrokerConfig, accounts: list[Login], data_dir: Path | None,
           rules: tuple[str, tuple[Path, Path] | None]) -> None:
    command_filter, tls = rules
    from visioncast.broker import mosquitto as mosq  # noqa: PLC0415 - each kind loads only when chosen

    binary = mosq.find_mosquitto() if cfg.kind in ("auto", "mosquitto") else None
    if cfg.kind == "mosquitto" and binary is None:
        raise ConfigError("config 'broker.kind' is 'mosquitto' but the mosquitto program is not installed "
                          "(apt install mosquitto, or broker.kind = 'auto' to use the embedded broker)")
    if binary is not None and (data_dir is not None or cfg.kind == "mosquitto"):
        folder = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="visioncast-"))
        conf = mosq.write_files(folder / "mosquitto", host=cfg.host, port=cfg.port,
                                ws_port=handle.ws_port, logins=accounts, anonymous=cfg.anonymous,
                                command_filter=command_filter, max_message_bytes=cfg.max_message_bytes,
                                max_connections=cfg.max_connections,
                                tls=(handle.tls_port, *tls) if tls else None)
        handle.runner = mosq.ManagedMosquitto(binary, conf, cfg.host, cfg.port,
                                              also=(handle.ws_port, handle.tls_port))
        handle.kind, handle.version = "mosquitto", mosq.mosquitto_version(binary)
        return
    from visioncast.broker.embedded_config import EmbeddedSettings  # noqa: PLC0415
    from visioncast.broker.embedded_run import start_embedded  # noqa: PLC0415

    handle.runner = start_embedded(EmbeddedSettings(
        cfg.host, cfg.port, handle.ws_port, accounts, cfg.anonymous, command_filter, cfg.max_message_bytes,
        tls=(handle.tls_port, *tls) if tls else None, max_connections=cfg.max_connections))
    handle.kind, handle.version = "embedded", "amqtt"
