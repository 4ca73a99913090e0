"""`visioncast board-code BOARD`: a board program ready to flash, with this server's broker address, the
boards' login, the label topic and a label → action table filled in (see :mod:`visioncast.boardcode`).

The labels come from a model (``--model``, e.g. one made by ``visioncast teach``, each label a colour of the
palette) and/or ``--label LABEL=COLOUR``, ``--servo LABEL=ANGLE`` and ``--text LABEL=TEXT``. Defaults come
from the config, as ``serve`` would use them: the broker section (a LAN address when it listens on every
network), the boards' login (the password kept in the data dir) and the label topic of ``--source`` (default
``teach``, what the /teach page publishes), with the labels as the push sends them (``mqtt.label_map``). When
the push goes to another broker (``mqtt.host``/``mqtt.url``), the program connects there instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from visioncast.boardcode import (
    BOARDS,
    DEFAULT_SOURCE,
    OFF_ACTION,
    Action,
    BoardSettings,
    default_colours,
    generate,
    label_topic,
    microbit_shows,
    parse_angle,
    parse_colour,
    parse_text,
    pushed_actions,
)
from visioncast.broker import credentials, logins
from visioncast.broker.port import choose_broker_port
from visioncast.cli.options import load_config, port_number
from visioncast.config import Config
from visioncast.errors import InputError
from visioncast.network import board_address
from visioncast.sinks.push_target import BrokerAddress, push_target


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "board-code", help="write a board program with the broker, login, topic and label actions filled in",
        description="Write a ready board program (MicroPython for UNIHIKER K10 / ESP32, UNIHIKER M10, ESP32 "
                    "Arduino, micro:bit + OBLOQ MakeCode) for a model's labels or the labels you give, with "
                    "the broker address, the boards' login and the topic filled in. Per label: an LED colour "
                    "(red, yellow, green, blue, purple, white, orange, cyan, off or #rrggbb), a servo angle "
                    "(0-180 degrees; a label without one leaves the servo where it is) and a text for the "
                    "screen (at most 64 characters).")
    p.add_argument("board", choices=BOARDS, help="the board and its language")
    p.add_argument("-m", "--model", metavar="NAME", help="take the labels from this model (e.g. one taught)")
    p.add_argument("--label", dest="label_specs", action="append", default=[], metavar="LABEL=COLOUR",
                   help="a label and its LED colour (repeat; with --model it changes that label's colour)")
    p.add_argument("--servo", dest="servo_specs", action="append", default=[], metavar="LABEL=ANGLE",
                   help="turn the servo to ANGLE degrees (0-180) on LABEL (repeat)")
    p.add_argument("--text", dest="text_specs", action="append", default=[], metavar="LABEL=TEXT",
                   help="show TEXT on the board's screen on LABEL (repeat; the micro:bit shows ASCII only)")
    p.add_argument("--servo-pin", type=int, metavar="PIN",
                   help="the servo's signal pin (default: GPIO 13 on ESP32 boards, P10 on the M10, P0 on "
                        "the micro:bit)")
    p.add_argument("--source", default=DEFAULT_SOURCE,
                   help="listen to this source's label (default: teach, the Teach page's try; e.g. webcam)")
    p.add_argument("--topic", help="the topic the board listens to, as is (default: the label topic of "
                                   "--source, e.g. visioncast/teach/label)")
    p.add_argument("--broker", metavar="HOST", help="broker address for the boards (default: this machine, "
                                                    "or the push's broker when it goes elsewhere)")
    p.add_argument("--port", type=port_number, help="broker port (default: the config's, 1883)")
    p.add_argument("--user", help="the boards' login (default: the one `visioncast serve` prints)")
    p.add_argument("--password", help="the boards' password (default: the one `visioncast serve` prints)")
    p.add_argument("--wifi", metavar="SSID", help="Wi-Fi network name (boards with Wi-Fi settings)")
    p.add_argument("--wifi-password", metavar="PASSWORD", help="Wi-Fi password")
    p.add_argument("-o", "--output", metavar="FILE", help="write the program here (default: standard output)")
    p.set_defaults(handler=run)


def split_spec(spec: str, option: str, example: str, *, last: bool = True) -> tuple[str, str]:
    """``LABEL=VALUE`` → (label, value), split at the last '=' (``last``) or the first; InputError naming
    the option otherwise."""
    label, sep, value = spec.rpartition("=") if last else spec.partition("=")
    if not sep or not label.strip():
        raise InputError(f"{option} must be {example}, got {spec!r}")
    return label.strip(), value


def actions_of(args: argparse.Namespace, cfg: Config) -> dict[str, Action]:
    """The label table: the model's labels in palette colours, then each --label, --servo and --text."""
    actions: dict[str, Action] = {}
    if args.model:
        from visioncast.models.registry import load_model  # noqa: PLC0415 - onnxruntime only when needed

        labels = load_model(args.model, cache_dir=Path(cfg.models.cache_dir)).labels
        actions = {label: Action(colour=rgb) for label, rgb in default_colours(labels).items()}
    changes = [(s, "--label", "LABEL=COLOUR, e.g. 开心=yellow", True, "colour") for s in args.label_specs]
    changes += [(s, "--servo", "LABEL=ANGLE, e.g. 开心=90", True, "servo_deg") for s in args.servo_specs]
    changes += [(s, "--text", "LABEL=TEXT, e.g. 开心=你好", False, "text") for s in args.text_specs]
    for spec, option, example, last, key in changes:
        label, value = split_spec(spec, option, example, last=last)
        if args.model and label not in actions:
            raise InputError(f"{option} {label!r} is not a label of model {args.model!r}; its labels: "
                             f"{', '.join(actions)}")
        parse = {"colour": parse_colour, "servo_deg": parse_angle, "text": parse_text}[key]
        parsed = parse(value, label=label)
        before = actions.get(label, OFF_ACTION)
        actions[label] = Action(**{**vars(before), key: parsed})
    if not actions:
        raise InputError("give --model NAME or at least one --label LABEL=COLOUR, --servo or --text")
    return actions


def settings_of(args: argparse.Namespace, cfg: Config) -> tuple[BoardSettings, str]:
    """The program's settings and a note to tell the user (the push is off, or it goes to a broker whose
    login for boards is not known; empty when there is none)."""
    if args.wifi is not None and args.wifi_password is None:
        raise InputError(f"--wifi {args.wifi!r} needs --wifi-password ('' for an open network)")
    actions = actions_of(args, cfg)
    topic = args.topic
    if not topic:
        topic, actions = label_topic(cfg, args.source), pushed_actions(cfg, actions)
    first, chosen = choose_broker_port(cfg.broker, logins(cfg.broker, Path(cfg.data_dir)))
    to = push_target(cfg.mqtt, BrokerAddress(cfg.broker.host, chosen.port,
                                             *credentials(cfg.broker, Path(cfg.data_dir))))
    off = "the push is off (mqtt.enabled = false): boards get no labels until it is on"
    note = "" if cfg.mqtt.enabled else off
    where = f"{to.board_host}:{to.board_port}"
    if not to.local and not (to.board_user or args.user):
        note = note or f"the push goes to {where}: give the boards' login there with --user/--password"
    elif to.local and chosen is not first and not args.port:
        note = note or f"{first.describe()}: serve uses port {to.board_port}, the program connects there"
    settings = BoardSettings(
        broker=args.broker or board_address(to.board_host), port=args.port or to.board_port,
        user=to.board_user if args.user is None else args.user,
        password=to.board_password if args.password is None else args.password, topic=topic,
        wifi_ssid=args.wifi,
        wifi_password=args.wifi_password, actions=actions, servo_pin=args.servo_pin)
    return settings, note


def describe(board: str, settings: BoardSettings) -> str:
    """The label table in one line (on the micro:bit: what its screen shows for each label)."""
    if board == "microbit-obloq":
        shows = microbit_shows(settings.actions)
        return "micro:bit shows " + ", ".join(f"{label}: {s.kind} {s.value}".rstrip()
                                              for label, s in shows.items())
    parts = []
    for label, a in settings.actions.items():
        r, g, b = a.colour
        servo = "" if a.servo_deg is None else f" servo {a.servo_deg}°"
        text = "" if a.text is None else f" text {a.text!r}"
        parts.append(f"{label} #{r:02x}{g:02x}{b:02x}{servo}{text}")
    return ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    settings, note = settings_of(args, cfg)
    name, text = generate(args.board, settings)
    if note:
        print(f"visioncast: note: {note}", file=sys.stderr)
    if not args.output:
        sys.stdout.write(text)
        if args.board == "microbit-obloq":
            print(describe(args.board, settings), file=sys.stderr)
        return 0
    out = Path(args.output).expanduser()
    try:
        out.write_text(text, encoding="utf-8", newline="\n")  # the same bytes from every OS
    except OSError as exc:
        raise InputError(f"cannot write '{out}': {exc.strerror or exc}") from exc
    print(f"wrote {out} ({args.board}, usually named {name}): broker {settings.broker}:{settings.port}, "
          f"user {settings.user}, topic {settings.topic}; {describe(args.board, settings)}")
    return 0
