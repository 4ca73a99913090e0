"""The HTML pages: index, classification and detection. I/O: none (templates and static files are Flask's).

Every page extends ``templates/base.html`` (header, navigation, main) and uses ``static/app.css`` and the
shared helpers of ``static/app.js`` (post an image, shrink it, draw detections on a canvas, show errors in
plain words). The pages only talk to the JSON API (``/api/v1/…``): what a page shows is what any client gets.

The navigation is a list kept per app. A feature adds its page with ONE call in its ``register(app)``::

    from visioncast.server.pages import add_nav_link

    add_nav_link(app, "videos.page", "Video", "Upload an MP4 and watch detections frame by frame.")

The link then appears in the header of every page and as a card on the index page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, current_app, render_template

from visioncast.server.access import access
from visioncast.server.app import services
from visioncast.server.openapi import document, response

EXTENSION = "visioncast.nav"
DEFAULT_MAX_SIDE = 1280
DEFAULT_JPEG_QUALITY = 0.85

bp = Blueprint("pages", __name__)
_HTML = {200: response("the page", media_type="text/html")}


@dataclass(frozen=True)
class NavLink:
    """One entry of the navigation: a Flask endpoint, its short label and a one-line description."""

    endpoint: str
    label: str
    description: str = ""


def add_nav_link(app: Flask, endpoint: str, label: str, description: str = "") -> None:
    """Add a page to the header navigation and the index page (in call order)."""
    links: list[NavLink] = app.extensions.setdefault(EXTENSION, [])
    if any(link.endpoint == endpoint for link in links):
        raise ValueError(f"nav link endpoint {endpoint!r} is already registered")
    links.append(NavLink(endpoint, label, description))


def nav_links(app: Flask) -> list[NavLink]:
    """The app's navigation, in the order pages were added."""
    return list(app.extensions.get(EXTENSION, []))


@bp.app_context_processor
def _nav_context() -> dict[str, Any]:
    return {"nav_links": nav_links(current_app)}


@bp.get("/")
@document("Index page: what visioncast does and links to every page", tags=["pages"], responses=_HTML)
@access("student")
def index() -> str:
    cfg = services().config
    return render_template("index.html", models=cfg.models, mqtt=cfg.mqtt, broker=cfg.broker)


@bp.get("/classify")
@document("Classification page: upload an image, see the top-5 classes", tags=["pages"], responses=_HTML)
@access("student")
def classify() -> str:
    return render_template("classify.html", model=services().config.models.classify)


@bp.get("/detect")
@document("Detection page: shrink, upload and see boxes drawn on a canvas", tags=["pages"], responses=_HTML)
@access("student")
def detect() -> str:
    cfg = services().config.models
    return render_template(
        "detect.html",
        model=cfg.detect,
        conf=cfg.conf,
        max_side=DEFAULT_MAX_SIDE,
        quality=DEFAULT_JPEG_QUALITY,
    )


def register(app: Flask) -> None:
    """The pages blueprint and its two task pages in the navigation."""
    app.register_blueprint(bp)
    add_nav_link(
        app,
        "pages.classify",
        "Classify",
        "Upload a photo and see its top-5 CIFAR-10 classes with probability bars.",
    )
    add_nav_link(
        app,
        "pages.detect",
        "Detect",
        "Shrink a photo in the browser, upload it and see the objects boxed on a canvas.",
    )
