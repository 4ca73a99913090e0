"""`visioncast broker` (the embedded MQTT broker alone, like SIoT's tool) and MQTT push for `serve`.

I/O: sockets, prints to stdout. ``serve`` uses :func:`add_push_options`, :func:`push_overrides` and
:func:`print_broker` (its start-up steps are in :mod:`visioncast.cli.serve`): the embedded broker starts by
default (``--broker-port``, ``--broker-host``) and prints the addresses boards should use; ``--mqtt
mqtt://user:pass@host:port`` pushes to an external broker instead and ``--mqtt off`` disables push. The flags
are config overrides, so they win over settings saved from the /mqtt page.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from visioncast.broker import BrokerHandle, lan_addresses, open_broker
from visioncast.cli.options import load_config, port_number, port_or_zero
from visioncast.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = sub.add_parser("broker", help="run the embedded MQTT broker alone (boards connect to it)",
                       description="Run the embedded MQTT broker (amqtt) until Ctrl-C: TCP for boards, "
                                   "WebSocket for browser dashboards, user/password login.")
    p.add_argument("--host", help="address to listen on (default 0.0.0.0: every network)")
    p.add_argument("--port", type=port_number, help="MQTT TCP port (default 1883)")
    p.add_argument("--ws-port", type=port_or_zero, help="MQTT over WebSocket port (default 8083; 0 = off)")
    p.add_argument("--preset", choices=["siot"], help="siot: log in as siot/dfrobot like SIoT")
    p.add_argument("--user", help="user name (default visioncast)")
    p.add_argument("--password", help="password (default: generated once, kept in the data dir)")
    p.add_argument("--anonymous", action="store_true", default=None, help="also accept clients without login")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args, {"broker.host": args.host, "broker.port": args.port,
                             "broker.ws_port": args.ws_port, "broker.preset": args.preset,
                             "broker.username": args.user,
                             "broker.password": args.password, "broker.anonymous": args.anonymous})
    handle = open_broker(cfg.broker, data_dir=Path(cfg.data_dir))
    if handle.external:
        raise ConfigError(f"{handle.note.split('; using')[0]}: a broker already runs there, nothing to start")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print_broker(handle, sys.stdout)
        print("press Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        print("stopping…", flush=True)
    finally:
        handle.close()
    return 0


def print_broker(handle: BrokerHandle, out: TextIO, prefix: str = "visioncast") -> None:
    """The addresses and login boards should use, one per line."""
    if handle.external:
        print(f"MQTT broker: {handle.note}", file=out)
        return
    hosts = lan_addresses() if handle.host in ("0.0.0.0", "") else [handle.host]
    print(f"MQTT broker (embedded) on port {handle.port}; boards connect to:", file=out)
    for ip in hosts:
        where = "this machine only" if ip.startswith("127.") else "boards on the same network"
        print(f"  mqtt://{ip}:{handle.port}  ({where})", file=out)
    if handle.ws_port:
        print(f"  ws://{hosts[0]}:{handle.ws_port}/  (MQTT over WebSocket, browser dashboards)", file=out)
    print(f"  user {handle.username}  password {handle.password}"
          f"{'  (anonymous clients accepted too)' if handle.anonymous else ''}", file=out)
    print(f"  topics: {prefix}/<source>/label (text), …/result (JSON), …/count/<label>", file=out, flush=True)


def add_push_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("MQTT push")
    g.add_argument("--broker-port", type=port_number, help="embedded MQTT broker port (default 1883)")
    g.add_argument("--broker-host", help="embedded broker address (default 0.0.0.0: every network)")
    g.add_argument("--mqtt", metavar="URL|off",
                   help="push to an external broker mqtt://user:pass@host:port instead, or 'off'")


def push_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted config keys of the push flags: ``--mqtt off`` turns off push and the embedded broker."""
    over: dict[str, Any] = {"broker.port": args.broker_port, "broker.host": args.broker_host}
    if args.mqtt is not None and args.mqtt.lower() == "off":
        over.update({"mqtt.enabled": False, "broker.enabled": False})
    elif args.mqtt is not None:
        over.update({"mqtt.url": args.mqtt, "mqtt.enabled": True})
    return over
