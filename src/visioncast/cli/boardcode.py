"""`visioncast board-code BOARD`: a board program ready to flash, with this server's broker address, the
boards' login, the label topic and a label → colour table filled in (see :mod:`visioncast.boardcode`).

The labels come from a model (``--model``, e.g. one made by ``visioncast teach``, each label a colour of the
palette) and/or ``--label LABEL=COLOUR``. Defaults come from the config, as ``serve`` would use them: the
broker section (a LAN address when it listens on every network), the boards' login (the password kept in the
data dir) and the label topic of source ``teach`` (what the /teach page publishes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from visioncast.boardcode import (
    BOARDS,
    RGB,
    BoardSettings,
    default_colours,
    generate,
    label_topic,
    parse_colour,
)
from visioncast.broker import board_address, credentials
from visioncast.cli.options import load_config, port_number
from visioncast.config import Config
from visioncast.errors import InputError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "board-code", help="write a board program with the broker, login, topic and label colours filled in",
        description="Write a ready board program (MicroPython for UNIHIKER K10 / ESP32, UNIHIKER M10, ESP32 "
                    "Arduino, micro:bit + OBLOQ MakeCode) for a model's labels or the labels you give, with "
                    "the broker address, the boards' login and the topic filled in. Colours: "
                    "red, yellow, green, blue, purple, white, orange, cyan, off or #rrggbb.")
    p.add_argument("board", choices=BOARDS, help="the board and its language")
    p.add_argument("-m", "--model", metavar="NAME", help="take the labels from this model (e.g. one taught)")
    p.add_argument("--label", dest="label_specs", action="append", default=[], metavar="LABEL=COLOUR",
                   help="a label and its LED colour (repeat; with --model it changes that label's colour)")
    p.add_argument("--topic", help="the topic the board listens to (default: the label topic of source "
                                   "'teach', e.g. visioncast/teach/label)")
    p.add_argument("--broker", metavar="HOST", help="broker address for the boards (default: this machine)")
    p.add_argument("--port", type=port_number, help="broker port (default: the config's, 1883)")
    p.add_argument("--user", help="the boards' login (default: the one `visioncast serve` prints)")
    p.add_argument("--password", help="the boards' password (default: the one `visioncast serve` prints)")
    p.add_argument("--wifi", metavar="SSID", help="Wi-Fi network name (boards with Wi-Fi settings)")
    p.add_argument("--wifi-password", metavar="PASSWORD", help="Wi-Fi password")
    p.add_argument("-o", "--output", metavar="FILE", help="write the program here (default: standard output)")
    p.set_defaults(handler=run)


def parse_label(spec: str) -> tuple[str, RGB]:
    """``LABEL=COLOUR`` → (label, rgb); InputError naming the spec otherwise."""
    label, sep, colour = spec.rpartition("=")
    if not sep or not label.strip():
        raise InputError(f"--label must be LABEL=COLOUR, e.g. 开心=yellow, got {spec!r}")
    return label.strip(), parse_colour(colour, label=label.strip())


def colours_of(args: argparse.Namespace, cfg: Config) -> dict[str, RGB]:
    """The label table: the model's labels in palette colours, then each --label."""
    colours: dict[str, RGB] = {}
    if args.model:
        from visioncast.models.registry import load_model  # noqa: PLC0415 - onnxruntime only when needed

        labels = load_model(args.model, cache_dir=Path(cfg.models.cache_dir)).labels
        colours = default_colours(labels)
    for spec in args.label_specs:
        label, rgb = parse_label(spec)
        if args.model and label not in colours:
            raise InputError(f"--label {label!r} is not a label of model {args.model!r}; its labels: "
                             f"{', '.join(colours)}")
        colours[label] = rgb
    if not colours:
        raise InputError("give --model NAME or at least one --label LABEL=COLOUR")
    return colours


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    colours = colours_of(args, cfg)
    user, password = args.user, args.password
    if user is None or password is None:
        stored_user, stored_password = credentials(cfg.broker, Path(cfg.data_dir))
        user = stored_user if user is None else user
        password = stored_password if password is None else password
    settings = BoardSettings(
        broker=args.broker or board_address(cfg.broker.host), port=args.port or cfg.broker.port, user=user,
        password=password, topic=args.topic or label_topic(cfg), wifi_ssid=args.wifi,
        wifi_password=args.wifi_password, colours=colours)
    name, text = generate(args.board, settings)
    if not args.output:
        sys.stdout.write(text)
        return 0
    out = Path(args.output).expanduser()
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write '{out}': {exc.strerror or exc}") from exc
    table = ", ".join(f"{label} #{r:02x}{g:02x}{b:02x}" for label, (r, g, b) in colours.items())
    print(f"wrote {out} ({args.board}, usually named {name}): broker {settings.broker}:{settings.port}, "
          f"user {settings.user}, topic {settings.topic}; {table}")
    return 0
