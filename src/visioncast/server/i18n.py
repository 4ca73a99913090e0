"""The pages' two languages, Simplified Chinese and English. I/O: reads the message catalogues once.

One catalogue per language, ``static/i18n/<lang>.json``: a flat JSON object ``{"key": "text with {vars}"}``.
The same catalogue serves both sides of a page:

* templates call ``{{ t("detect.title") }}`` or ``{{ t("video.limit", mb=200) }}`` (Jinja global);
* scripts ``import {t} from "./i18n.js"`` and call ``t("detect.found", {n: 3})``: the page names its language
  and the URL of its bundle in a JSON data block (``<script type="application/json" id="visioncast-data">``,
  never executed, so a strict CSP allows it); the bundle (``static/i18n/page-<lang>.json``: the messages, the
  class names in the language and the class colours) is one content-hashed file (:mod:`.assets`) the browser
  downloads once (compressed) and keeps, rather than 40 KB inlined in every page.

The language of a request: ``?lang=zh|en`` (remembered in the ``visioncast_lang`` cookie for a year) → that
cookie → the browser's ``Accept-Language`` → English. The server renders the chosen language, so a page never
flashes the other one. A key missing in Chinese falls back to English, a key missing in both shows the key
itself (tests/unit/server/test_i18n.py fails on either). Navigation entries are translated by the keys
``nav.<endpoint>`` and ``nav.<endpoint>.description`` when present, else shown as registered.

The catalogues themselves are read by :mod:`visioncast.lang` (the frames the server draws use them too).
Class names a model gives (COCO-80, CIFAR-10: "person", "bus") stay as they are in every answer, MQTT
message and file; the Chinese pages show them in Chinese from ``static/i18n/labels-zh.json`` (English name →
Chinese, sent in the bundle as ``labels``; ``labelName()`` in i18n.js). A label without an entry (a class's
own model, "开心") is shown as it is.

API errors carry a stable ``code`` (:mod:`visioncast.server.errors`); a page shows ``t("error.<code>")``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, g, request, url_for
from markupsafe import Markup

from visioncast.lang import DEFAULT, LANGS, catalogue, label_names, translate

__all__ = ["COOKIE", "DEFAULT", "LANGS", "bundle", "bundle_name", "catalogue", "choose", "current",
           "label_names", "page_data", "register", "t", "translate"]

COOKIE = "visioncast_lang"
COOKIE_MAX_AGE_S = 365 * 24 * 3600


def choose(query: str | None, cookie: str | None, accept: Any) -> str:
    """The page language from the ?lang query, the remembered cookie and the Accept-Language header."""
    for wanted in (query, cookie):
        if wanted in LANGS:
            return wanted
    best = accept.best_match(LANGS) if accept else None
    return best or DEFAULT


def current() -> str:
    """The language of the current request (worked out once per request)."""
    if "lang" not in g:
        g.lang = choose(request.args.get("lang"), request.cookies.get(COOKIE), request.accept_languages)
    return str(g.lang)


def t(key: str, **values: Any) -> str:
    """The message ``key`` in the current request's language (the templates' ``t``)."""
    return translate(current(), key, values)


def bundle_name(lang: str) -> str:
    """The static path of the page bundle of ``lang`` (made by :func:`bundle`)."""
    return f"i18n/page-{lang}.json"


def bundle(lang: str, palette: list[str]) -> bytes:
    """The page bundle of ``lang``: its messages (English for any key it lacks), the class names in the
    language and the class colours, as UTF-8 JSON."""
    messages = {**catalogue(DEFAULT), **catalogue(lang)}
    data = {"lang": lang, "messages": messages, "labels": label_names(lang), "palette": palette}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def page_data() -> Markup:
    """The ``visioncast-data`` JSON block every page's scripts read: the language and its bundle's URL.

    ``<``, ``>``, ``&`` and ``'`` escaped so the text cannot close the block."""
    lang = current()
    data = {"lang": lang, "bundle": url_for("static", filename=bundle_name(lang))}
    text = json.dumps(data, separators=(",", ":"))
    for char in "<>&'":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return Markup(text)  # JSON with every character that could end the block escaped


def _remember(response: Response) -> Response:
    wanted = request.args.get("lang")
    if wanted in LANGS and request.cookies.get(COOKIE) != wanted:
        response.set_cookie(COOKIE, wanted, max_age=COOKIE_MAX_AGE_S, samesite="Lax")
    if response.mimetype == "text/html":
        response.vary.update(("Accept-Language", "Cookie"))
    return response


def register(app: Flask) -> None:
    """``t`` and ``lang`` in every template; the ?lang= choice remembered in a cookie."""
    app.jinja_env.globals.update(t=t, lang=current, langs=LANGS)
    app.after_request(_remember)
