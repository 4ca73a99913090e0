"""The HTML pages: index, classification, detection and the API reference. I/O: none (templates and static
files are Flask's).

Every page extends ``templates/base.html`` (header, navigation, language switch, main) and uses
``static/app.css`` and the shared helpers of ``static/app.js`` (post an image, shrink it, draw detections on a
canvas, show errors in the page's language). The pages only talk to the JSON API (``/api/v1/…``): what a page
shows is what any client gets. Text comes from the message catalogues of :mod:`visioncast.server.i18n`.

The navigation is a list kept per app. A feature adds its page with ONE call in its ``register(app)``::

    from visioncast.server.pages import add_nav_link

    add_nav_link(app, "videos.page", "Video", "Upload an MP4 and watch detections frame by frame.")

The link then appears in the header of every page and as a card on the index page; the catalogue keys
``nav.videos.page`` and ``nav.videos.page.description`` translate it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, render_template, request, send_file

from visioncast.draw import palette
from visioncast.errors import NotFoundError
from visioncast.server import assets, i18n
from visioncast.server.auth.access import access
from visioncast.server.openapi import document, response
from visioncast.server.services import services

EXTENSION = "visioncast.nav"
DEFAULT_MAX_SIDE = 1280
DEFAULT_JPEG_QUALITY = 0.85
PALETTE_SIZE = 256  # class ids beyond wrap around in JS; every model shipped has fewer classes
# src/visioncast/samples/ (licences in its README.txt), offered as "try this image" on the task pages
DETECT_SAMPLES = ("messi5.jpg",)
CLASSIFY_SAMPLES = ("cifar10-cat.png", "cifar10-ship.png", "cifar10-automobile.png")

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
    """The app's navigation, in the order pages were added (as registered, untranslated)."""
    return list(app.extensions.get(EXTENSION, []))


def _translated(link: NavLink) -> NavLink:
    lang = i18n.current()
    if lang == i18n.DEFAULT:
        return link  # English as registered, so a page's own wording wins
    label = i18n.catalogue(lang).get(f"nav.{link.endpoint}") or link.label
    description = i18n.catalogue(lang).get(f"nav.{link.endpoint}.description") or link.description
    return NavLink(link.endpoint, label, description)


def palette_hex(count: int = PALETTE_SIZE) -> list[str]:
    """``#rrggbb`` of the class colours 0…count-1: draw.palette, the one palette of images, AVIs and pages."""
    return ["#{2:02x}{1:02x}{0:02x}".format(*palette(i)) for i in range(count)]


def query_with(**changes: str) -> str:
    """The current query string with ``changes`` applied (the language switch keeps ?job= and the like)."""
    args = request.args.to_dict()
    args.update(changes)
    return urlencode(args)


@bp.app_context_processor
def _page_context() -> dict[str, Any]:
    return {"nav_links": [_translated(link) for link in nav_links(current_app)],
            "page_data": i18n.page_data, "query_with": query_with}


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
    return render_template("classify.html", model=services().config.models.classify,
                           samples=CLASSIFY_SAMPLES)


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
        samples=DETECT_SAMPLES,
    )


@bp.get("/webcam")
@document("Webcam page: the browser's camera, detected live", tags=["pages"], responses=_HTML)
@access("student")
def webcam() -> str:
    cfg = services().config
    return render_template("webcam.html", model=cfg.models.detect, conf=cfg.models.conf)


@bp.get("/api-docs")
@access("open")
@document("API reference page: the OpenAPI document as a readable page, offline", tags=["pages"],
          responses=_HTML)
def api_docs() -> str:
    return render_template("api_docs.html")


@bp.get("/samples/<name>")
@access("open")
@document("A sample image the pages offer to try (the package's samples folder)", tags=["pages"],
          responses={200: response("the image", {"type": "string", "format": "binary"},
                                   media_type="image/*")})
def sample(name: str) -> Response:
    if name not in (*DETECT_SAMPLES, *CLASSIFY_SAMPLES):
        raise NotFoundError(f"no sample image {name!r}")
    with resources.as_file(resources.files("visioncast") / "samples" / name) as path:
        return send_file(path, max_age=3600)


def register(app: Flask) -> None:
    """The pages blueprint, the languages and the two task pages in the navigation."""
    i18n.register(app)
    assets.register(app)
    for lang in i18n.LANGS:
        app.extensions[assets.EXTENSION].add(i18n.bundle_name(lang),
                                             functools.partial(i18n.bundle, lang, palette_hex()))
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
    add_nav_link(app, "pages.webcam", "Webcam",
                 "Point your camera at the scene: boxes drawn live, with the FPS.")
