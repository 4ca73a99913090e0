"""Whose the broker's port is, as ``serve``, ``board-code`` and ``doctor`` decide it (visioncast.broker.port):
free; ours (this data dir's broker already running); foreign (a Mosquitto with its own password file, or one
that lets anyone in, started here on a free port — never the machine's 1883); or a program that is not MQTT.
open_broker moves to the next free port only when allowed, and the boards' login is checked with a real MQTT
CONNECT from the LAN address."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from tests.mqtt_peers import free_port, mosquitto

from visioncast.broker import logins, open_broker
from visioncast.broker.acl import Login
from visioncast.broker.port import (
    FOREIGN,
    FREE,
    OTHER,
    OURS,
    board_login,
    boards_can_connect,
    check_port,
    choose_port,
)
from visioncast.config import BrokerConfig
from visioncast.errors import ConfigError
from visioncast.network import lan_addresses, mqtt_connect

LAN = lan_addresses(loopback=False)
needs_lan = pytest.mark.skipif(not LAN, reason="this machine has no LAN address")


def _broker(port: int, host: str = "127.0.0.1") -> BrokerConfig:
    return BrokerConfig(kind="embedded", host=host, port=port, ws_port=0)


def test_a_free_port_a_foreign_broker_an_open_broker_and_another_program(tmp_path: Path) -> None:
    accounts = logins(_broker(1), tmp_path)
    port = free_port()
    assert check_port("127.0.0.1", port, accounts).state == FREE
    with mosquitto(tmp_path, port, {"owner": "its-own-password"}):
        check = check_port("127.0.0.1", port, accounts)
        assert (check.state, check.owner) == (FOREIGN, f"'mosquitto' (pid {_pid(port)})")
        assert check.detail.startswith("it refuses visioncast's login: ")
        assert "a broker whose logins visioncast does not manage" in check.describe()
    open_port = free_port()
    with mosquitto(tmp_path, open_port):  # anonymous: any user name and password get in
        check = check_port("127.0.0.1", open_port, accounts)
        assert (check.state, check.detail) == (FOREIGN, "it lets in any login")
    with socket.create_server(("127.0.0.1", 0)) as other:
        other_port = other.getsockname()[1]
        check = check_port("127.0.0.1", other_port, accounts)
        assert check.state == OTHER
        assert "does not answer MQTT" in check.describe()


def _pid(port: int) -> str:
    from visioncast.network import port_owner  # noqa: PLC0415

    return port_owner(port).rsplit("pid ", 1)[-1].rstrip(")")


def test_this_data_dirs_broker_is_ours_and_used_as_it_is(tmp_path: Path) -> None:
    cfg = _broker(free_port())
    with open_broker(cfg, data_dir=tmp_path) as running:
        accounts = logins(cfg, tmp_path)
        assert check_port("127.0.0.1", cfg.port, accounts).state == OURS
        found = open_broker(cfg, data_dir=tmp_path)
        assert (found.external, found.port, found.server_login) == (True, cfg.port, accounts[0])
        assert "already runs visioncast's broker" in found.note
        found.close()  # not ours to stop
        assert mqtt_connect("127.0.0.1", running.port, running.username, running.password).accepted
        # Another data dir's logins are not these: that broker is foreign to it.
        assert check_port("127.0.0.1", cfg.port, logins(cfg, tmp_path / "other")).state == FOREIGN


def test_open_broker_moves_off_a_foreign_broker_only_when_allowed(tmp_path: Path) -> None:
    port = free_port()
    with mosquitto(tmp_path, port, {"owner": "its-own-password"}):
        with pytest.raises(ConfigError) as refused:
            open_broker(_broker(port), data_dir=tmp_path, port_option="--broker-port")
        message = str(refused.value)
        assert "a broker whose logins visioncast does not manage" in message
        assert "choose another port with --broker-port" in message
        assert f"--mqtt mqtt://USER:PASSWORD@127.0.0.1:{port}" in message
        with open_broker(_broker(port), data_dir=tmp_path, move=True, port_option="--broker-port") as moved:
            assert port < moved.port <= port + 20
            assert f"visioncast's broker listens on port {moved.port} instead (--broker-port chooses)" \
                in moved.note
            assert mqtt_connect("127.0.0.1", moved.port, moved.username, moved.password).accepted
            first, chosen = choose_port("127.0.0.1", port, logins(_broker(port), tmp_path))
            assert (first.state, chosen.state, chosen.port) == (FOREIGN, OURS, moved.port)


@needs_lan
def test_boards_can_connect_is_a_real_login_from_the_lan_address(tmp_path: Path) -> None:
    lan = LAN[0]
    cfg = _broker(free_port(), host=lan)
    with open_broker(cfg, data_dir=tmp_path) as handle:
        login = board_login(logins(cfg, tmp_path))
        reach = boards_can_connect(lan, handle.port, login)
        assert (reach.ok, reach.address) == (True, f"mqtt://{lan}:{handle.port}")
        assert reach.line().startswith("boards can connect: yes")
        wrong = boards_can_connect(lan, handle.port, Login(login.username, "not-the-password", "board"))
        assert not wrong.ok
        assert f"refused user {login.username!r}" in wrong.why
    gone = boards_can_connect(lan, cfg.port, login)
    assert not gone.ok
    assert "did not answer MQTT" in gone.why
    local = boards_can_connect("127.0.0.1", cfg.port, login)
    assert "listens on 127.0.0.1 only" in local.line()
