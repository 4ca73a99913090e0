"""The Flask application factory. I/O: none by itself (blueprints and services do theirs).

``create_app(config)`` builds the shared :class:`Services` once into ``app.extensions["visioncast"]`` and
registers one blueprint per feature. Errors of the visioncast tree become JSON under /api/ and HTML elsewhere.
"""

from __future__ import annotations

from flask import Flask, current_app

from visioncast.config import Config
from visioncast.config import load as load_config
from visioncast.server.services import Services

EXTENSION = "visioncast"


def services() -> Services:
    """The Services of the running app (inside a request or app context)."""
    return current_app.extensions[EXTENSION]


def create_app(config: Config | None = None, *, services_: Services | None = None) -> Flask:
    """The visioncast Flask app for ``config`` (default: ``config.load()``)."""
    config = config or load_config()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(config.server.max_body_mb * 1024 * 1024)
    app.extensions[EXTENSION] = services_ or Services(config)
    _register_blueprints(app)
    return app


def _register_blueprints(app: Flask) -> None:
    # One line per feature; each module exposes ``register(app)``.
    from visioncast.server import errors  # noqa: PLC0415 — imports app

    errors.register(app)
    from visioncast.server import auth, signin  # noqa: PLC0415 — who may call each route; /signin

    auth.register(app)
    signin.register(app)
    from visioncast.server import api  # noqa: PLC0415 (api imports app) — /api/v1, /healthz, /metrics…

    api.register(app)
    from visioncast.server import pages  # noqa: PLC0415 — /, /classify, /detect and the nav of every page

    pages.register(app)
    from visioncast.server import mqtt  # noqa: PLC0415 — /api/v1/mqtt, /mqtt page, MQTT /metrics

    mqtt.register(app)
    from visioncast.server import videos  # noqa: PLC0415 — /api/v1/videos, /video and /webcam pages

    videos.register(app)
    from visioncast.server import preview  # noqa: PLC0415 — /api/v1/videos/<id>/frames/<n>.jpg

    preview.register(app)
    from visioncast.server import streams  # noqa: PLC0415 — /api/v1/streams, /api/v1/stats, /streams pages

    streams.register(app)
    from visioncast.server import kserve  # noqa: PLC0415 — /v2: the KServe v2 inference protocol

    kserve.register(app)
    from visioncast.server import teach  # noqa: PLC0415 — /api/v1/teach, the /teach page

    teach.register(app)
    from visioncast.server import boardcode  # noqa: PLC0415 — /api/v1/board-code

    boardcode.register(app)
