"""Entry point of the ``visioncast`` command: parses arguments, dispatches, maps errors to exit codes.

Exit codes: 0 success, 1 runtime error (one line on stderr; ``--debug`` adds the traceback), 2 usage error,
130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from visioncast import __version__
from visioncast.errors import VisioncastError

Handler = Callable[[argparse.Namespace], int]
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


# Command → the module that adds its parser. Only the module of the command being run is imported (each
# pulls in its own stack: Flask, onnxruntime, OpenCV…), so `visioncast predict` starts like a small client.
COMMANDS = {"detect": "infer", "classify": "infer", "pose": "infer", "face": "infer", "segment": "infer",
            "models": "models",
            "serve": "serve", "predict": "predict", "broker": "broker", "run": "run", "teach": "teach",
            "board-code": "boardcode", "doctor": "doctor"}


def _command_modules(argv: Sequence[str]) -> list[object]:
    """The modules for the command named in ``argv``, or all of them (help, a typo, no command)."""
    named = next((a for a in argv if not a.startswith("-")), None)
    wanted = [COMMANDS[named]] if named in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    mods: list[object] = []
    for name in wanted:
        try:
            mods.append(__import__(f"visioncast.cli.{name}", fromlist=["add_parser"]))
        except ModuleNotFoundError as exc:
            if exc.name != f"visioncast.cli.{name}":
                raise
    return mods


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv`` (None: every command, e.g. for documentation)."""
    parser = argparse.ArgumentParser(
        prog="visioncast",
        description="Deploy vision models and deliver their results: detect, classify, serve, push, run.",
    )
    parser.add_argument("--version", action="version", version=f"visioncast {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--config", metavar="TOML", help="configuration file (default: $VISIONCAST_CONFIG)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules(argv or ()):
        module.add_parser(sub)  # type: ignore[attr-defined]
    return parser


# Native libraries print to the process's stderr, past Python's logging: OpenCV's "[ WARN:0@…] global
# cap.cpp…" and FFmpeg's "moov atom not found" (read when they first log, so children such as Ray workers
# inherit them). Their failures reach the user as one line of ours (a SourceError saying what is wrong with
# the file or camera); `--debug` keeps them.
QUIET_NATIVE = {"OPENCV_LOG_LEVEL": "ERROR", "OPENCV_FFMPEG_LOGLEVEL": "-8"}


def quiet_native_logs() -> None:
    """Silence OpenCV's and FFmpeg's own stderr lines in this process and its children (a variable already
    set by the user wins)."""
    for name, value in QUIET_NATIVE.items():
        os.environ.setdefault(name, value)
    cv2 = sys.modules.get("cv2")  # imported already (an embedding program): its level is set at import
    if cv2 is not None and os.environ["OPENCV_LOG_LEVEL"] == "ERROR":
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--debug" not in argv:
        quiet_native_logs()
    for stream in (sys.stdout, sys.stderr):  # where 开心 cannot be shown it shows '?', never a crash
        if hasattr(stream, "reconfigure") and (stream.encoding or "").lower().replace("-", "") != "utf8":
            stream.reconfigure(errors="replace")
    parser = build_parser(_after_global_options(argv))
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


def _after_global_options(argv: list[str]) -> list[str]:
    """``argv`` without the global options before the command (``--config`` takes a value)."""
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option == "--config" and rest:
            rest.pop(0)
    return rest
