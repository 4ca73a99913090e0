"""The one way tests build the server's Flask app: :func:`app_for` (for module-scoped apps) and the
``make_app`` fixture of tests/conftest.py (function-scoped, closed at teardown), both over ``create_app``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from visioncast import config
from visioncast.server.app import create_app


def settings(data_dir: Path, **overrides: Any) -> dict[str, Any]:
    """Config overrides: ``data_dir``, push and the embedded broker off (a test app never publishes by
    accident: ``mqtt__enabled=True`` turns push on), plus ``section__key=value`` keyword arguments
    (``server__token`` sets ``server.token``, as VISIONCAST_SERVER__TOKEN would)."""
    return {"data_dir": str(data_dir), "mqtt.enabled": False, "broker.enabled": False,
            **{key.replace("__", "."): value for key, value in overrides.items()}}


def app_for(data_dir: Path, **overrides: Any) -> Flask:
    """The server's app with its data under ``data_dir``, no environment, ``overrides`` as in
    :func:`settings`. Building it opens no socket and starts no thread; close it with
    ``app.extensions["visioncast"].close()`` when it ran jobs or streams."""
    return create_app(config.load(env={}, overrides=settings(data_dir, **overrides)))
