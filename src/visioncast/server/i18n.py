"""The pages' two languages, Simplified Chinese and English. I/O: reads the message catalogues once.

One catalogue per language, ``static/i18n/<lang>.json``: a flat JSON object ``{"key": "text with {vars}"}``.
The same catalogue serves both sides of a page:

* templates call ``{{ t("detect.title") }}`` or ``{{ t("video.limit", mb=200) }}`` (Jinja global);
* scripts ``import {t} from "./i18n.js"`` and call ``t("detect.found", {n: 3})``: the page carries the
  catalogue of its language as a JSON data block (``<script type="application/json" id="visioncast-data">``,
  never executed, so a strict CSP allows it).

The language of a request: ``?lang=zh|en`` (remembered in the ``visioncast_lang`` cookie for a year) → that
cookie → the browser's ``Accept-Language`` → English. The server renders the chosen language, so a page never
flashes the other one. A key missing in Chinese falls back to English, a key missing in both shows the key
itself (tests/unit/server/test_i18n.py fails on either). Navigation entries are translated by the keys
``nav.<endpoint>`` and ``nav.<endpoint>.description`` when present, else shown as registered.

Class names a model gives (COCO-80, CIFAR-10: "person", "bus") stay as they are in every answer, MQTT
message and file; the Chinese pages show them in Chinese from ``static/i18n/labels-zh.json`` (English name →
Chinese, sent with the page as ``labels``; ``labelName()`` in i18n.js). A label without an entry (a class's
own model, "开心") is shown as it is.

API errors carry a stable ``code`` (:mod:`visioncast.server.errors`); a page shows ``t("error.<code>")``.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from importlib import resources
from typing import Any

from flask import Flask, Response, g, request
from markupsafe import Markup

log = logging.getLogger(__name__)
LANGS = ("zh", "en")
DEFAULT = "en"
COOKIE = "visioncast_lang"
COOKIE_MAX_AGE_S = 365 * 24 * 3600
_VAR = re.compile(r"\{(\w+)\}")


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    """The messages of ``lang`` (one of LANGS), read once from static/i18n/<lang>.json."""
    path = resources.files("visioncast.server") / "static" / "i18n" / f"{lang}.json"
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


@functools.cache
def label_names(lang: str) -> dict[str, str]:
    """Class name → its name in ``lang`` for the shipped models' labels ({} for English)."""
    path = resources.files("visioncast.server") / "static" / "i18n" / f"labels-{lang}.json"
    if lang == DEFAULT or not path.is_file():
        return {}
    names: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return names


def translate(lang: str, key: str, values: dict[str, Any] | None = None) -> str:
    """The message ``key`` in ``lang`` with ``{name}`` replaced from ``values`` (unknown names stay as is)."""
    text = catalogue(lang).get(key)
    if text is None:
        text = catalogue(DEFAULT).get(key)
    if text is None:
        log.warning("no message %r in the %s or %s catalogue", key, lang, DEFAULT)
        return key
    if not values:
        return text
    return _VAR.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)


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


def page_data(palette: list[str]) -> Markup:
    """The ``visioncast-data`` JSON block every page's scripts read: language, messages, class names in the
    language, class colours.

    UTF-8 rather than ``\\u`` escapes (half the bytes for Chinese); ``<``, ``>``, ``&`` and ``'`` escaped so
    the text cannot close the block."""
    lang = current()
    messages = {**catalogue(DEFAULT), **catalogue(lang)}
    data = {"lang": lang, "messages": messages, "labels": label_names(lang), "palette": palette}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
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
