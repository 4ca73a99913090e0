"""The two languages, Simplified Chinese and English: their message catalogues and the Chinese names of the
shipped models' classes. I/O: reads the catalogues once (``server/static/i18n/``, shared with the pages).

The pages (:mod:`visioncast.server.i18n`) and the frames the server draws (:mod:`visioncast.draw`) read the
same catalogues, so a label says the same in a browser and in a saved video. A catalogue is a flat JSON object
``{"key": "text with {vars}"}``; a key missing in Chinese falls back to English, one missing in both shows as
the key itself. Class names ("person", "bus") stay as the model gives them in every answer, MQTT message and
file; only what people read shows them in their language (``labels-zh.json``; a name without an entry, such
as a taught class "开心", is shown as it is).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

log = logging.getLogger(__name__)
LANGS = ("zh", "en")
DEFAULT = "en"
_VAR = re.compile(r"\{(\w+)\}")


def _folder() -> Any:
    return resources.files("visioncast") / "server" / "static" / "i18n"


@functools.cache
def catalogue(lang: str) -> dict[str, str]:
    """The messages of ``lang`` (one of LANGS), read once from static/i18n/<lang>.json."""
    data: dict[str, str] = json.loads((_folder() / f"{lang}.json").read_text(encoding="utf-8"))
    return data


@functools.cache
def label_names(lang: str) -> dict[str, str]:
    """Class name → its name in ``lang`` for the shipped models' labels ({} for English)."""
    path = _folder() / f"labels-{lang}.json"
    if lang == DEFAULT or not path.is_file():
        return {}
    names: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return names


@functools.cache
def api_text(lang: str) -> dict[str, dict[str, str]]:
    """The API reference in ``lang`` from ``api-<lang>.json`` ({} for English): for each of "summary",
    "description", "parameter", "response" and "tag", {English text: its translation}."""
    path = _folder() / f"api-{lang}.json"
    if lang == DEFAULT or not path.is_file():
        return {}
    table: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return table


def label_name(lang: str, label: str) -> str:
    """``label`` as a reader of ``lang`` sees it ("人" for "person" in Chinese)."""
    return label_names(lang).get(label, label)


def translate(lang: str, key: str, values: dict[str, Any] | None = None) -> str:
    """The message ``key`` in ``lang`` with ``{name}`` replaced from ``values`` (unknown names stay as is)."""
    text = catalogue(lang).get(key) if lang in LANGS else None
    if text is None:
        text = catalogue(DEFAULT).get(key)
    if text is None:
        log.warning("no message %r in the %s or %s catalogue", key, lang, DEFAULT)
        return key
    if not values:
        return text
    return _VAR.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)


LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


def from_locale(env: Mapping[str, str]) -> str:
    """"zh" when the first of LC_ALL, LC_MESSAGES, LANG that is set names Chinese, else "en"."""
    for name in LOCALE_VARIABLES:
        value = env.get(name)
        if value:
            return "zh" if value.lower().startswith("zh") else DEFAULT
    return DEFAULT
