"""Entry point of the ``visioncast`` command: parses arguments, dispatches, maps errors to exit codes.

Exit codes: 0 success, 1 runtime error (one line on stderr; ``--debug`` adds the traceback), 2 usage error,
130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence

from visioncast import __version__
from visioncast.errors import VisioncastError

Handler = Callable[[argparse.Namespace], int]
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _command_modules() -> list[object]:
    from visioncast.cli import infer, models  # noqa: PLC0415 - commands load when the parser is built

    mods: list[object] = [infer, models]
    for name in ("serve", "predict", "broker", "run"):
        try:
            mods.append(__import__(f"visioncast.cli.{name}", fromlist=["add_parser"]))
        except ModuleNotFoundError as exc:
            if exc.name != f"visioncast.cli.{name}":
                raise
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visioncast",
        description="Deploy vision models and deliver their results: detect, classify, serve, push, run.",
    )
    parser.add_argument("--version", action="version", version=f"visioncast {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--config", metavar="TOML", help="configuration file (default: $VISIONCAST_CONFIG)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.add_parser(sub)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args)
    except VisioncastError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"visioncast: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("visioncast: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
