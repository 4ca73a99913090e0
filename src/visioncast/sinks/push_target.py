"""Where the push goes and who logs in there: the one decision ``serve``, the /mqtt page (its PUT, its status)
and ``board-code`` (the command and the /teach page's board block) all use. Pure (reads the config and the
description of this server's broker; opens nothing).

* The push goes to **this server's broker** (``local``: the one ``serve`` started or found, or the one it
  would start) when ``mqtt.host`` is empty, or a loopback address on that broker's port, and ``mqtt.url`` is
  not set. The server then logs in with the broker's server login (the only one whose topic rules let it
  write the server's topics) and boards are given the boards' login. That login is never sent elsewhere.
* Otherwise it goes to the broker ``mqtt.url`` or ``mqtt.host``/``mqtt.port`` name, with the login given
  there (the siot preset's public siot/dfrobot when none is); boards are given that public login under the
  siot preset and none otherwise (the server's own is never handed out).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

from visioncast.config import MqttConfig
from visioncast.errors import ConfigError
from visioncast.network import LOOPBACK, local_address
from visioncast.sinks import mqtt_format as fmt

SIOT_LOGIN = ("siot", "dfrobot")  # the siot preset's public login (SIoT's default)


class _Login(Protocol):
    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...


class LocalBroker(Protocol):
    """This server's broker as the push sees it (a running :class:`~visioncast.broker.BrokerHandle`, or a
    :class:`BrokerAddress` when none runs in this process): its address, port, the boards' login and the
    server's own (None: the boards' login serves both, as with a broker found already running)."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def server_login(self) -> _Login | None: ...


@dataclass(frozen=True)
class BrokerAddress:
    """This server's broker when it does not run in this process (``board-code`` before ``serve``, a WSGI
    server): where it listens and the boards' login."""

    host: str
    port: int
    username: str
    password: str
    server_login: None = None


@dataclass(frozen=True)
class PushTarget:
    """``mqtt``: the push settings with the broker and login it connects with spelled out (checked, policy
    resolved); ``local``: it is this server's broker; ``board_*``: the address, port and login a board is
    given to hear the push there."""

    mqtt: MqttConfig
    local: bool
    board_host: str
    board_port: int
    board_user: str = ""
    board_password: str = ""


def is_local(cfg: MqttConfig, local: LocalBroker | None) -> bool:
    """True when ``cfg`` pushes to this server's broker: no URL, and host "" or loopback on its port."""
    if local is None or cfg.url:
        return False
    return not cfg.host or (cfg.host in LOOPBACK and cfg.port == local.port)


def has_target(cfg: MqttConfig, local: LocalBroker | None) -> bool:
    """False when ``cfg`` names this server's broker (host "") but there is none."""
    return bool(cfg.url or cfg.host or local is not None)


def push_target(cfg: MqttConfig, local: LocalBroker | None) -> PushTarget:
    """Where the push of ``cfg`` goes and with which login, and what a board is given (module docstring).
    ConfigError when a setting is wrong, or when host "" names this server's broker and there is none."""
    if not has_target(cfg, local):
        raise ConfigError("config 'mqtt.host' is empty, which means the embedded broker, but this server "
                          "runs none (broker.enabled is false): give the address of a broker")
    if local is not None and is_local(cfg, local):
        login = local.server_login
        user, password = (login.username, login.password) if login else (local.username, local.password)
        mqtt = dataclasses.replace(cfg, host=local_address(local.host), port=local.port, username=user,
                                   password=password)
        return PushTarget(fmt.resolve(mqtt), True, local.host, local.port, local.username, local.password)
    mqtt = fmt.resolve(cfg)
    given = fmt.parse_url(cfg.url)["username"] if cfg.url else cfg.username
    board_user, board_password = SIOT_LOGIN if cfg.preset == "siot" and not given else ("", "")
    return PushTarget(mqtt, False, mqtt.host, mqtt.port, board_user, board_password)
