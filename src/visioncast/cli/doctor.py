"""`visioncast doctor`: is this computer ready for the classroom? One line per check, ✓ or ✗ with what to do,
in Chinese or English (the messages are the ``doctor.*`` keys of the pages' catalogues, server/static/i18n).

I/O: sockets (port binds, TCP and MQTT connects from the LAN address; the broker is started for a moment when
none runs, so the boards' login is checked for real), the OS's firewall tools (read only, :mod:`firewall`),
the data dir, ``/dev/video*`` (Linux; elsewhere the first camera indexes are opened). Checks: the LAN address
phones and boards use; the web, MQTT and WebSocket ports (free, visioncast's, or someone else's — the same
:func:`visioncast.broker.port.check_port` ``serve`` decides with); whether boards can log in; the firewall
and the command that opens the ports; a Wi-Fi client-isolation hint; https and phone cameras; cameras;
models; the data dir and its free disk; the broker program. ``serve`` runs :func:`quick_checks` at start and
prints only the failures. Exit code 1 when a check fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import shutil
import socket
import ssl
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from visioncast.broker import open_broker
from visioncast.broker import port as broker_port
from visioncast.broker.mosquitto import find_mosquitto, mosquitto_version
from visioncast.broker.port import FOREIGN, FREE, OTHER, OURS, PortCheck, Reach, board_login
from visioncast.cli import firewall
from visioncast.cli.checkup import Line, Setup, marks_for, print_line, system_lang
from visioncast.cli.options import load_config, port_number, port_or_zero
from visioncast.config import Config
from visioncast.errors import VisioncastError
from visioncast.network import ANY_HOSTS, is_loopback, lan_addresses, port_owner, port_taken, tcp_connect
from visioncast.server.i18n import LANGS, translate

LOW_DISK_BYTES = 1 << 30


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = sub.add_parser("doctor", help="check this computer for the classroom: ports, broker login, firewall, "
                                      "cameras, models, disk (Chinese or English)",
                       description="Check what phones and boards need: the LAN address, the web, MQTT and "
                                   "WebSocket ports, a real MQTT login from the LAN address, the firewall "
                                   "(with the command that opens the ports), https for phone cameras, "
                                   "cameras, models and the data dir. One line per check; exit code 1 when "
                                   "one fails.")
    p.add_argument("--host", help="the address serve will listen on (default: every network, as a classroom "
                                  "needs)")
    p.add_argument("--port", type=port_or_zero, help="web port serve will use (default 5000)")
    p.add_argument("--broker-port", type=port_number, help="MQTT broker port (default 1883)")
    p.add_argument("--tls", action="store_const", const="on", default=None, help="serve will run with --tls")
    p.add_argument("--no-tls", dest="tls", action="store_const", const="off",
                   help="serve will run with --no-tls")
    p.add_argument("--lang", choices=LANGS, help="zh or en (default: the system's language)")
    p.set_defaults(handler=run)


def setup_of(args: argparse.Namespace) -> Setup:
    cfg = load_config(args, {"server.host": args.host, "server.port": args.port, "server.tls": args.tls,
                             "broker.port": args.broker_port})
    lans = lan_addresses(loopback=False)
    host = cfg.server.host if cfg.server.host in lans else "0.0.0.0"
    return Setup(cfg, host, lans[0] if lans else "", args.lang or system_lang())


def run(args: argparse.Namespace) -> int:
    setup = setup_of(args)
    out = sys.stdout
    print(translate(setup.lang, "doctor.title"), file=out, flush=True)
    failed = 0
    for check in CHECKS:
        for line in check(setup):
            failed += line.ok is False
            print_line(line, out)
    summary = "summary_ok" if not failed else "summary"
    values = {"n": failed, "mark": marks_for(out)[0][False]}
    print(translate(setup.lang, f"doctor.{summary}", values), file=out, flush=True)
    return 1 if failed else 0


# ---- the checks --------------------------------------------------------------------------------------------
def check_address(s: Setup) -> list[Line]:
    if not s.lan:
        return [s.say(False, "lan_none", "lan_none_fix")]
    lines = [s.say(True, "lan", address=s.lan, url=s.web_url,
                   mqtt=f"mqtt://{s.lan}:{s.broker_choice[1].port}")]
    others = [a for a in lan_addresses(loopback=False) if a != s.lan]
    if others:
        lines.append(s.say(None, "lan_more", list=", ".join(others)))
    host = s.config.server.host
    if host not in ANY_HOSTS and host not in lan_addresses(loopback=False):
        lines.append(s.say(False, "host_local", "host_local_fix", host=host))
    return lines


def check_web_port(s: Setup) -> list[Line]:
    port = s.config.server.port
    if port == 0:
        return [s.say(True, "http_any")]
    if not port_taken(s.host, port):
        return [s.say(True, "http_free", port=port)]
    if _visioncast_answers(port):
        return [s.say(True, "http_ours", port=port)]
    return [s.say(False, "http_taken", "http_taken_fix", port=port, owner=port_owner(port), next=port + 1)]


def _visioncast_answers(port: int) -> bool:
    """True when a visioncast server answers /healthz on ``port`` (http, or https with its certificate)."""
    unverified = ssl.create_default_context()
    unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE  # only the Server header counts
    for conn in (http.client.HTTPConnection("127.0.0.1", port, timeout=2),
                 http.client.HTTPSConnection("127.0.0.1", port, timeout=2, context=unverified)):
        try:
            conn.request("GET", "/healthz")
            if (conn.getresponse().getheader("Server") or "").startswith("visioncast"):
                return True
        except (OSError, http.client.HTTPException):
            continue
        finally:
            conn.close()
    return False


def check_broker(s: Setup) -> list[Line]:
    """The MQTT and WebSocket ports, and a real MQTT login with the boards' login from the LAN address (the
    broker started for a moment, exactly as serve would, when none runs)."""
    cfg = s.config
    if cfg.mqtt.url or not cfg.broker.enabled:
        return [s.say(None, "broker_external")]
    broker, accounts = s.broker, s.logins
    first, chosen = s.broker_choice
    lines = [_port_line(s, first, chosen.port)]
    if broker.ws_port:
        lines.append(_ws_line(s, broker.ws_port, first.owner if first.state == OURS else ""))
    if chosen.state == OURS:
        reach = broker_port.boards_can_connect(s.host, chosen.port, board_login(accounts))
    elif chosen.state == FREE:
        try:
            with open_broker(dataclasses.replace(broker, port=chosen.port, ws_port=0),
                             data_dir=Path(cfg.data_dir)):
                reach = broker_port.boards_can_connect(s.host, chosen.port, board_login(accounts))
        except VisioncastError as exc:
            reach = Reach(False, f"mqtt://{s.lan}:{chosen.port}", str(exc))
    else:
        return [*lines, s.say(False, "boards_unchecked", "mqtt_taken_fix", port=first.port)]
    user = board_login(accounts).username
    if reach.ok:
        lines.append(s.say(True, "boards_yes", address=reach.address, user=user, lan=s.lan))
    else:
        lines.append(s.say(False, "boards_no", "boards_no_fix", why=reach.why))
    return lines


def _port_line(s: Setup, first: PortCheck, chosen: int) -> Line:
    values: dict[str, Any] = {"port": first.port, "owner": first.owner, "detail": first.detail,
                              "next": chosen}
    if first.state == FREE:
        return s.say(True, "mqtt_free", **values)
    if first.state == OURS:
        return s.say(True, "mqtt_ours", **values)
    key = {FOREIGN: "mqtt_foreign", OTHER: "mqtt_other"}.get(first.state, "mqtt_unusable")
    fix = "mqtt_moved_fix" if chosen != first.port else "mqtt_taken_fix"
    return s.say(False, key, fix, **values)


def _ws_line(s: Setup, port: int, broker_owner: str) -> Line:
    if not port_taken(s.host, port):
        return s.say(True, "ws_free", port=port)
    owner = port_owner(port)
    if broker_owner and owner == broker_owner:
        return s.say(True, "ws_ours", port=port)
    return s.say(False, "ws_taken", "ws_taken_fix", port=port, owner=owner)


def ports_of(s: Setup) -> list[int]:
    """The TCP ports phones and boards reach: web, the MQTT port serve uses, WebSocket and TLS when on."""
    cfg = s.config
    ports = [cfg.server.port or 5000]
    if cfg.broker.enabled and not cfg.mqtt.url:
        ports.append(s.broker_choice[1].port)
        ports += [p for p in (cfg.broker.ws_port,) if p]
        ports += [cfg.broker.tls_port] if cfg.server.https(s.host) and cfg.broker.tls_port else []
    return ports


def check_firewall(s: Setup) -> list[Line]:
    """The firewall's own state, and a TCP connect from the LAN address to each port (to a listener of ours
    opened for the check when nothing listens yet): what a self-check can see of what phones would meet."""
    wall = firewall.detect()
    ports = ports_of(s)
    programs = [sys.executable, *([find_mosquitto() or ""] if s.config.broker.kind != "embedded" else [])]
    command = firewall.open_command(wall.tool, ports, [p for p in programs if p])
    if s.lan:
        for port in ports:
            why = _reach_from_lan(s, port)
            if why:
                return [s.say(False, "firewall_unreachable", "firewall_fix", port=port, lan=s.lan, detail=why,
                              command=command)]
    blocked = [p for p in ports if wall.blocks(p)]
    listed = ", ".join(str(p) for p in (blocked or ports))
    if blocked:
        return [s.say(False, "firewall_blocks", "firewall_fix", tool=wall.tool, ports=listed,
                      command=command)]
    if wall.active is None:
        return [s.say(None, "firewall_unknown", "firewall_fix", tool=wall.tool or "?",
                      detail=wall.detail or "?", command=command)]
    if wall.active and wall.tool in ("windows", "macos", "iptables"):
        return [s.say(None, "firewall_on", "firewall_fix", tool=wall.tool, ports=listed, command=command)]
    key = "firewall_ok" if wall.active else "firewall_none"
    return [s.say(True, key, tool=wall.tool, ports=listed, lan=s.lan, detail=wall.detail)]


def _reach_from_lan(s: Setup, port: int) -> str:
    """'' when a TCP connection from the LAN address to ``port`` there opens, else why not ('' too when the
    program holding the port does not listen on the LAN address: a firewall is not what stops it)."""
    if port_taken(s.lan, port):
        return tcp_connect(s.lan, port, source=s.lan)
    if port_taken(s.host, port):
        return ""
    try:
        with socket.create_server((s.host, port)):
            return tcp_connect(s.lan, port, source=s.lan)
    except OSError:
        return ""  # taken meanwhile: the port line says so


def check_wifi(s: Setup) -> list[Line]:
    return [s.say(None, "wifi_hint", url=s.web_url)] if s.lan else []


def check_https(s: Setup) -> list[Line]:
    """Phones allow their camera to a page only over https (or on the computer itself)."""
    cfg = s.config
    if is_loopback(cfg.server.host) and s.host not in ANY_HOSTS and not s.lan:
        return [s.say(True, "tls_local")]
    if not cfg.server.https(s.host):
        return [s.say(False, "tls_off", "tls_off_fix")]
    from visioncast.server.tls import CERT_NAME  # noqa: PLC0415 - cryptography only when TLS is on

    path = Path(cfg.data_dir) / "tls" / CERT_NAME
    return [s.say(True, "tls_on" if path.is_file() else "tls_new", path=path)]


def check_cameras(s: Setup) -> list[Line]:
    found = list_cameras()
    if not found:
        return [s.say(False, "cameras_none", "cameras_none_fix")]
    return [s.say(True, "cameras", list=", ".join(found))]


def list_cameras(dev: Path = Path("/dev")) -> list[str]:
    """Cameras this computer has: Linux's video devices with their names (capture nodes only), elsewhere
    the first camera indexes OpenCV can open (with its logs quietened)."""
    if sys.platform.startswith("linux"):
        names = []
        for node in sorted(dev.glob("video*"), key=lambda p: (len(p.name), p.name)):
            sysfs = Path("/sys/class/video4linux") / node.name
            index = sysfs / "index"
            if index.is_file() and index.read_text(encoding="ascii").strip() != "0":
                continue  # a second node of the same camera (metadata)
            label = (sysfs / "name").read_text(encoding="utf-8").strip() if (sysfs / "name").is_file() else ""
            names.append(f"{node}{f' ({label})' if label else ''}")
        return names
    import cv2  # noqa: PLC0415 - OpenCV only where cameras are opened to be found

    found = []
    for index in range(3):
        cap = cv2.VideoCapture(index)
        try:
            if cap.isOpened():
                found.append(f"camera {index} (run -i {index if index else 'CAM'})")
        finally:
            cap.release()
    return found


def check_models(s: Setup) -> list[Line]:
    from visioncast.models.registry import find_model, list_models  # noqa: PLC0415

    cache = Path(s.config.models.cache_dir)
    lines = []
    for task, name in (("detect", s.config.models.detect), ("classify", s.config.models.classify)):
        try:
            find_model(name, cache)
        except VisioncastError as exc:
            lines.append(s.say(False, "model_missing", "model_missing_fix", name=name, task=task, detail=exc))
    sizes = ", ".join(f"{m.name} {m.size_bytes / 1e6:.1f} MB" for m in list_models(cache))
    return [s.say(True, "models", list=sizes), *lines]


def check_data_dir(s: Setup) -> list[Line]:
    path = Path(s.config.data_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".visioncast-doctor"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        return [s.say(False, "data_dir_bad", "data_dir_bad_fix", path=path, detail=exc.strerror or exc)]
    free = shutil.disk_usage(path).free
    text = f"{free / 1e9:.1f} GB"
    if free < LOW_DISK_BYTES:
        return [s.say(False, "data_dir_low", "data_dir_low_fix", path=path, free=text)]
    return [s.say(True, "data_dir", path=path, free=text)]


def check_broker_program(s: Setup) -> list[Line]:
    binary = find_mosquitto()
    if binary is None or s.config.broker.kind == "embedded":
        return [s.say(None, "mosquitto_none", "mosquitto_install", command=mosquitto_install())]
    return [s.say(True, "mosquitto", version=mosquitto_version(binary), path=binary)]


def mosquitto_install(platform: str = sys.platform) -> str:
    """How to install Mosquitto on this OS."""
    if platform == "win32":
        return "winget install EclipseFoundation.Mosquitto (or the installer from mosquitto.org)"
    if platform == "darwin":
        return "brew install mosquitto"
    return "sudo apt install mosquitto (then sudo systemctl disable --now mosquitto: visioncast runs its own)"


Check = Callable[[Setup], list[Line]]
CHECKS: Sequence[Check] = (check_address, check_web_port, check_broker, check_firewall, check_wifi,
                           check_https, check_cameras, check_models, check_data_dir, check_broker_program)


def quick_checks(cfg: Config, listening: bool) -> list[Line]:
    """What ``serve`` checks at start (after its port opened; the broker checked itself): phone cameras and
    the firewall when the LAN may reach the server, and the data dir. Only the failures."""
    lans = lan_addresses(loopback=False)
    host = cfg.server.host
    setup = Setup(cfg, host, lans[0] if lans else "", system_lang())
    checks: list[Check] = [check_data_dir]
    if listening and (host in ANY_HOSTS or host in lans):
        checks = [check_https, check_firewall, *checks]
    return [line for check in checks for line in check(setup) if line.ok is False]
