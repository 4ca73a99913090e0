"""Running ``python -m visioncast`` as a real subprocess, isolated from the user's cache, data and config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ENGINE

TIMEOUT_S = 60


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The parent's environment without VISIONCAST_* or a display, with caches and data under ``home``, on the
    tests' engine (tests/conftest.py ENGINE) unless ``extra`` says otherwise."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("VISIONCAST_") and k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(XDG_CACHE_HOME=str(home / "cache"), XDG_DATA_HOME=str(home / "data"), **{**ENGINE, **extra})
    return env


def run_cli(*args: str | Path, cwd: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """Run ``python -m visioncast ARGS`` in ``cwd``; stdout and stderr decoded as UTF-8."""
    return subprocess.run(
        [sys.executable, "-m", "visioncast", *map(str, args)],
        cwd=cwd, env=env or cli_env(cwd), capture_output=True, timeout=TIMEOUT_S, check=False,
        encoding="utf-8",
    )


def stderr_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.strip()]
