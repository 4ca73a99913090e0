"""The Flask application factory. I/O: none by itself (blueprints and services do theirs).

``create_app(config)`` builds the shared :class:`Services` once into ``app.extensions["visioncast"]`` and
registers one blueprint per feature. Errors of the visioncast tree become JSON under /api/ and HTML elsewhere.
"""

from __future__ import annotations

from flask import Flask

from visioncast.config import Config
from visioncast.config import load as load_config
from visioncast.server import api, errors, json_limits, kserve, pages, secure
from visioncast.server.auth import core as auth_core
from visioncast.server.auth import routes as auth_routes
from visioncast.server.push import routes as push_routes
from visioncast.server.services import EXTENSION, Services
from visioncast.server.streams import routes as streams_routes
from visioncast.server.teach import boardcode
from visioncast.server.teach import routes as teach_routes
from visioncast.server.videos import preview
from visioncast.server.videos import routes as videos_routes


def create_app(config: Config | None = None, *, services_: Services | None = None) -> Flask:
    """The visioncast Flask app for ``config`` (default: ``config.load()``)."""
    config = config or load_config()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(config.server.max_body_mb * 1024 * 1024)
    app.extensions[EXTENSION] = services_ or Services(config)
    _register_blueprints(app)
    return app


def _register_blueprints(app: Flask) -> None:
    """One line per feature; each module exposes ``register(app)``."""
    errors.register(app)  # the error tree as JSON under /api/, HTML elsewhere
    json_limits.register(app)  # JSON bodies: size and depth checked before parsing
    auth_core.register(app)  # who may call each route
    auth_routes.register(app)  # /signin, /signout
    secure.register(app)  # plain http from another device: the page pointing at https
    api.register(app)  # /api/v1 inference, /healthz, /metrics, /openapi.json, results
    pages.register(app)  # /, /classify, /detect, /webcam and the nav of every page
    push_routes.register(app)  # /api/v1/mqtt, the /mqtt page, MQTT /metrics
    videos_routes.register(app)  # /api/v1/videos, the /video page
    preview.register(app)  # /api/v1/videos/<id>/frames/<n>.jpg
    streams_routes.register(app)  # /api/v1/streams, /api/v1/stats, the /streams pages
    kserve.register(app)  # /v2: the KServe v2 inference protocol
    teach_routes.register(app)  # /api/v1/teach, the /teach page
    boardcode.register(app)  # /api/v1/board-code
