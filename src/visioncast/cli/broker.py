"""`visioncast broker` (the MQTT broker alone, like SIoT's tool) and MQTT push for `serve`.

I/O: sockets, prints to stdout. ``serve`` uses :func:`add_push_options`, :func:`push_overrides`,
:func:`print_broker` and :func:`broker_options` (its start-up steps are in :mod:`visioncast.cli.serve`): the
broker (a managed Mosquitto when installed, else the embedded one; ``--broker-kind``) starts by default
(``--broker-port``, ``--broker-host``) and prints the addresses and logins boards and the teacher should use;
the server publishes with its own login. ``--mqtt mqtt://user:pass@host:port`` pushes to an external broker
instead and ``--mqtt off`` disables push. The flags are config overrides, so they win over settings saved from
the /mqtt page.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from visioncast.broker import KINDS, BrokerHandle, open_broker
from visioncast.broker.acl import Login
from visioncast.broker.port import Reach, boards_can_connect
from visioncast.cli.options import load_config, port_number, port_or_zero
from visioncast.config import MqttConfig
from visioncast.errors import ConfigError
from visioncast.network import ANY_HOSTS, lan_addresses
from visioncast.sinks import mqtt_format as fmt

# Besides Ctrl-C: a service manager's SIGTERM; on Windows Ctrl-Break and a closed console window (SIGBREAK).
STOP_SIGNALS = tuple(name for name in ("SIGTERM", "SIGBREAK") if hasattr(signal, name))


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = sub.add_parser("broker", help="run the MQTT broker alone (boards connect to it)",
                       description="Run the MQTT broker until Ctrl-C (Mosquitto when installed, else the "
                                   "embedded one): TCP for boards, WebSocket for browser dashboards, "
                                   "logins and topic rules.")
    p.add_argument("--kind", choices=list(KINDS),
                   help="auto (default): Mosquitto when installed, else embedded")
    p.add_argument("--host", help="address to listen on (default 0.0.0.0: every network)")
    p.add_argument("--port", type=port_number, help="MQTT TCP port (default 1883)")
    p.add_argument("--ws-port", type=port_or_zero, help="MQTT over WebSocket port (default 8083; 0 = off)")
    p.add_argument("--preset", choices=["siot"], help="siot: log in as siot/dfrobot like SIoT")
    p.add_argument("--user", help="user name (default visioncast)")
    p.add_argument("--password", help="password (default: generated once, kept in the data dir)")
    p.add_argument("--anonymous", action="store_true", default=None, help="also accept clients without login")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args, {"broker.kind": args.kind, "broker.host": args.host, "broker.port": args.port,
                             "broker.ws_port": args.ws_port, "broker.preset": args.preset,
                             "broker.username": args.user,
                             "broker.password": args.password, "broker.anonymous": args.anonymous})
    handle = open_broker(cfg.broker, data_dir=Path(cfg.data_dir),
                         command_filter=fmt.command_filter(fmt.resolve(cfg.mqtt)),
                         move=cfg.layers.origin("broker.port") != "flags", port_option="--port")
    if handle.external:
        raise ConfigError(f"{handle.note.removesuffix('; using it')}: nothing to start")
    stop = threading.Event()
    for name in STOP_SIGNALS:
        signal.signal(getattr(signal, name), lambda *_: stop.set())
    try:
        print_broker(handle, sys.stdout, cfg.mqtt)
        print("press Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        print("stopping…", flush=True)
    finally:
        handle.close()
    return 0


def print_broker(handle: BrokerHandle, out: TextIO, mqtt: MqttConfig | None = None) -> Reach:
    """The addresses and logins boards (and the teacher) should use, one per line, then whether a board can
    log in there: a real MQTT CONNECT with the boards' login from this machine's LAN address (returned)."""
    if handle.note:
        print(f"MQTT broker: {handle.note}", file=out)
    hosts = lan_addresses() if handle.host in ANY_HOSTS else [handle.host]
    name = {"mosquitto": f"{handle.version}, managed", "external": "visioncast's, already running"}.get(
        handle.kind, "embedded")
    print(f"MQTT broker ({name}) on port {handle.port}; boards connect to:", file=out)
    for ip in hosts:
        where = "this machine only" if ip.startswith("127.") else "boards on the same network"
        print(f"  mqtt://{ip}:{handle.port}  ({where})", file=out)
    if handle.ws_port:
        print(f"  ws://{hosts[0]}:{handle.ws_port}/  (MQTT over WebSocket, browser dashboards)", file=out)
    if handle.tls_port:
        print(f"  mqtts://{hosts[0]}:{handle.tls_port}  (MQTT over TLS, the server's certificate)", file=out)
    print(f"  user {handle.username}  password {handle.password}"
          f"{'  (anonymous clients accepted too)' if handle.anonymous else ''}", file=out)
    if handle.teacher_login is not None:
        print(f"  teacher (commands): user {handle.teacher_login.username}  "
              f"password {handle.teacher_login.password}", file=out)
    print(f"  topics: {topics_line(mqtt or MqttConfig())}; boards may publish under board/", file=out)
    reach = boards_can_connect(handle.host, handle.port, Login(handle.username, handle.password, "board"))
    print(f"  {reach.line()}", file=out, flush=True)
    return reach


def topics_line(mqtt: MqttConfig) -> str:
    """Where results go under these settings, as one line for the banner."""
    mqtt = fmt.resolve(mqtt)
    if mqtt.preset == "people-counter":
        return "person (JSON count/total), person/duration"
    label = fmt.topic(mqtt, "label", "<source>")
    if mqtt.preset == "siot":
        return f"{label} (label text, sources detect, classify, webcam…)"
    return (f"{label} (text), {fmt.topic(mqtt, 'result', '<source>')} (JSON), "
            f"{fmt.topic(mqtt, 'count', '<source>', '<label>')}")


def add_push_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("MQTT push")
    g.add_argument("--broker-port", type=port_number, help="MQTT broker port (default 1883)")
    g.add_argument("--broker-host", help="MQTT broker address (default 0.0.0.0: every network)")
    g.add_argument("--broker-kind", choices=list(KINDS),
                   help="auto (default): a managed Mosquitto when installed, else the embedded broker")
    g.add_argument("--ha-discovery", action="store_true", default=None,
                   help="announce labels and counts to Home Assistant (MQTT discovery)")
    g.add_argument("--preset", choices=["siot"],
                   help="siot: boards log in as siot/dfrobot and read siot/<source>, like SIoT and Mind+")
    g.add_argument("--mqtt", metavar="URL|off",
                   help="push to an external broker mqtt://user:pass@host:port instead, or 'off'")


def push_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted config keys of the push flags: ``--mqtt off`` turns off push and the embedded broker."""
    over: dict[str, Any] = {"broker.port": args.broker_port, "broker.host": args.broker_host,
                            "broker.kind": args.broker_kind, "broker.preset": args.preset,
                            "mqtt.ha_discovery": args.ha_discovery}
    if args.mqtt is not None and args.mqtt.lower() == "off":
        over.update({"mqtt.enabled": False, "broker.enabled": False})
    elif args.mqtt is not None:
        over.update({"mqtt.url": args.mqtt, "mqtt.enabled": True})
    return over


def broker_options(ctx: Any) -> dict[str, Any]:
    """What ``open_broker`` needs besides the config for ``serve``: the command filter of the push settings
    in use and, with ``serve --tls``, the server's certificate for the broker's TLS listener."""
    return {"command_filter": fmt.command_filter(fmt.resolve(ctx.config.mqtt)),
            "tls": _certificate(ctx)}


def broker_metrics(app: Any, handle: BrokerHandle) -> None:
    """The broker serve runs, watched: /readyz's ``push`` check (it runs and listens) and /metrics (up,
    restarts of a managed Mosquitto, what the embedded broker refused by reason; Mosquitto keeps its own
    counts)."""
    from visioncast.server.health import add_check  # noqa: PLC0415 (keeps `visioncast broker` light)
    from visioncast.server.metrics import metrics_of  # noqa: PLC0415

    def push_ready() -> tuple[bool, str]:
        where = f"{handle.kind} MQTT broker on port {handle.port}"
        if handle.up():
            return True, f"{where} runs"
        return False, f"{where} is down ({handle.restarts} restarts so far)"

    add_check(app, "push", push_ready)
    metrics = metrics_of(app)
    reasons = ("too_large", "slow_subscriber", "oversized", "malformed", "connection_limit")
    metrics.add_callback(
        "visioncast_broker_dropped", "what the embedded MQTT broker refused (messages not forwarded, "
        "connections closed), by reason",
        lambda: {(r,): float(handle.drops().get(r, 0)) for r in reasons}, kind="counter", labels=["reason"])
    metrics.add_callback("visioncast_broker_up", "1 while the MQTT broker serve runs is up and listening",
                         lambda: float(handle.up()))
    metrics.add_callback("visioncast_broker_restarts", "times the managed Mosquitto was started again after "
                         "it stopped without being asked", lambda: float(handle.restarts), kind="counter")


def _certificate(ctx: Any) -> tuple[Path, Path] | None:
    """When the server serves https (:meth:`ServerConfig.https`): its certificate and key, for the broker's
    TLS listener too."""
    if not ctx.config.server.https():
        return None
    from visioncast.server.tls import ensure_certificate  # noqa: PLC0415

    host = ctx.config.server.host
    hosts = lan_addresses(loopback=False) if host in ANY_HOSTS else [host]
    cert = ensure_certificate(Path(ctx.config.data_dir) / "tls", hosts)
    return cert.cert_path, cert.key_path
