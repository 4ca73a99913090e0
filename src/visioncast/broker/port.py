"""Whose is the broker's port, and can a board log in: the one check behind ``serve``'s and ``visioncast
broker``'s start-up decision, ``visioncast board-code``'s broker and ``visioncast doctor``. I/O: sockets (a
bind, MQTT CONNECTs).

A port is *free*; *ours* (an MQTT broker that accepts visioncast's own server login and refuses a wrong
password for it: a broker visioncast runs with this data dir's logins); *foreign* (an MQTT broker whose logins
visioncast does not manage, such as a distribution's Mosquitto started by ``apt install mosquitto``: the
boards' login printed by visioncast would not work there); *other* (something that does not answer MQTT); or
*unusable* (the OS refuses it: no permission, not an address of this machine). :func:`choose_port` moves on
from a port that is not free or ours to the next one that is, the way ``serve`` does when the port was not
given on its command line, so ``board-code`` names the port ``serve`` uses or will use.
:func:`boards_can_connect` is the real check: a CONNECT with the boards' login from this machine's LAN
address.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from visioncast.broker.acl import Login
from visioncast.config import BrokerConfig
from visioncast.network import (
    ANY_HOSTS,
    IN_USE,
    is_loopback,
    lan_addresses,
    local_address,
    mqtt_connect,
    port_owner,
    port_taken,
)

FREE, OURS, FOREIGN, OTHER, UNUSABLE = "free", "ours", "foreign", "other", "unusable"
MOVE_TRIES = 20  # ports after the configured one that serve may use instead


@dataclass(frozen=True)
class PortCheck:
    """What holds ``port``: ``state`` (one of the five above), ``owner`` (the program, as the OS tells) and
    ``detail`` (the broker's answer, or the OS's reason)."""

    port: int
    state: str
    owner: str = ""
    detail: str = ""

    @property
    def usable(self) -> bool:
        """visioncast can run its broker here (free) or use the one running (ours)."""
        return self.state in (FREE, OURS)

    def describe(self) -> str:
        """One line: "port 1883 is taken by 'mosquitto' (pid 2980), a broker whose logins …"."""
        if self.state == FREE:
            return f"port {self.port} is free"
        if self.state == OURS:
            return f"port {self.port} runs visioncast's broker ({self.owner}, it accepts the server's login)"
        if self.state == UNUSABLE:
            return f"port {self.port} cannot be used: {self.detail}"
        what = ("a broker whose logins visioncast does not manage" if self.state == FOREIGN
                else "a program that does not answer MQTT")
        return f"port {self.port} is taken by {self.owner}, {what} ({self.detail})"


def server_login(logins: Iterable[Login]) -> Login:
    return next(lg for lg in logins if lg.role == "server")


def board_login(logins: Iterable[Login]) -> Login:
    return next(lg for lg in logins if lg.role == "board")


def check_port(host: str, port: int, logins: Sequence[Login]) -> PortCheck:
    """Whose ``host:port`` is, for a broker with ``logins`` (see the module docstring)."""
    taken = port_taken(host, port)
    if not taken:
        return PortCheck(port, FREE)
    if taken != IN_USE:
        return PortCheck(port, UNUSABLE, detail=taken)
    owner, address, server = port_owner(port), local_address(host), server_login(logins)
    answer = mqtt_connect(address, port, server.username, server.password)
    if not answer.mqtt:
        return PortCheck(port, OTHER, owner, answer.detail)
    if not answer.accepted:
        return PortCheck(port, FOREIGN, owner, f"it refuses visioncast's login: {answer.detail}")
    if mqtt_connect(address, port, server.username, server.password + "-wrong").accepted:
        return PortCheck(port, FOREIGN, owner, "it lets in any login")
    return PortCheck(port, OURS, owner, answer.detail)


def choose_port(host: str, port: int, logins: Sequence[Login], *, tries: int = MOVE_TRIES,
                avoid: Iterable[int] = ()) -> tuple[PortCheck, PortCheck]:
    """(the check of ``port``, the check of the port to use): the same when ``port`` is usable, else the
    first usable one of the ``tries`` ports after it (skipping ``avoid``: the broker's other listeners); the
    second is ``port``'s own check when none is."""
    first = check_port(host, port, logins)
    if first.usable:
        return first, first
    skip = set(avoid)
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        if candidate in skip:
            continue
        check = check_port(host, candidate, logins)
        if check.usable:
            return first, check
    return first, first


def choose_broker_port(cfg: BrokerConfig, logins: Sequence[Login], *,
                       move: bool = True) -> tuple[PortCheck, PortCheck]:
    """:func:`choose_port` for the broker section ``cfg`` (its other listeners avoided); ``move`` False
    checks only the configured port (a port given on the command line is kept or refused, never moved)."""
    return choose_port(cfg.host, cfg.port, logins, tries=MOVE_TRIES if move else 0,
                       avoid=(cfg.ws_port, cfg.tls_port))


@dataclass(frozen=True)
class Reach:
    """Whether a board can log in: ``ok``, the address it was checked at (``mqtt://192.0.2.2:1883``) and why
    not when it cannot."""

    ok: bool
    address: str
    why: str = ""

    def line(self) -> str:
        """'boards can connect: yes (…)' or 'boards can connect: no — why'."""
        if self.ok:
            return f"boards can connect: yes ({self.address}, checked with the boards' login from the LAN)"
        return f"boards can connect: no — {self.why}"


def boards_can_connect(host: str, port: int, login: Login) -> Reach:
    """A real MQTT CONNECT with the boards' ``login`` from this machine's LAN address to the address boards
    are told to use, for a broker listening on ``host:port``."""
    if is_loopback(host) or host == "localhost":
        return Reach(False, f"mqtt://{host}:{port}",
                     f"the broker listens on {host} only (this computer): use --broker-host 0.0.0.0")
    lans = lan_addresses(loopback=False)
    if not lans:
        return Reach(False, f"mqtt://127.0.0.1:{port}",
                     "this computer has no network address: join the classroom's Wi-Fi or network first")
    lan = lans[0] if host in ANY_HOSTS else host
    address = f"mqtt://{lan}:{port}"
    answer = mqtt_connect(lan, port, login.username, login.password, source=lan)
    if answer.accepted:
        return Reach(True, address)
    if answer.mqtt:
        why = f"the broker at {address} refused user {login.username!r}: {answer.detail}"
    else:
        why = f"{address} did not answer MQTT from {lan}: {answer.detail}"
    return Reach(False, address, why)
