"""The command line loads only the command being run, and still lists every command for help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from visioncast.cli.main import COMMANDS, build_parser

PROBE = """
import sys
from visioncast.cli.main import main
try:
    main({argv!r})
except SystemExit:
    pass
print(sorted(m for m in ("flask", "onnxruntime", "paho", "amqtt", "visioncast.pipeline", "visioncast.server")
             if m in sys.modules))
"""


def loaded_by(argv: list[str]) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True,
                          check=True, timeout=60)
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "loaded"),
    [
        (["predict", "--help"], "[]"),
        (["--config", "x.toml", "predict", "--help"], "[]"),
        (["models", "--help"], "[]"),
        (["run", "--help"], "['visioncast.pipeline']"),
    ],
)
def test_a_command_imports_only_its_own_stack(argv: list[str], loaded: str) -> None:
    assert loaded_by(argv) == loaded


@pytest.mark.parametrize("argv", [None, [], ["bogus"]])
def test_help_and_a_typo_list_every_command(argv: list[str] | None) -> None:
    usage = build_parser(argv).format_help()
    assert all(name in usage for name in COMMANDS), usage
