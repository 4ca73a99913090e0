"""String literals of the board programs' languages, and finding a setting to replace. Pure.

Python and JavaScript share JSON's double-quoted escapes (:func:`quoted`); C++ gets its own
(:func:`cpp_string`): quotes, backslashes and control characters escaped, UTF-8 kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from visioncast.errors import InputError


def quoted(text: str) -> str:
    """``text`` as a double-quoted string literal of Python and JavaScript alike: JSON's escapes (``\\"``,
    ``\\\\``, ``\\n``, ``\\uXXXX``) are valid in both; Chinese is kept as is. U+2028 and U+2029,
    which end a line of JavaScript (and of ``str.splitlines``), are escaped too."""
    return json.dumps(text, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def cpp_string(text: str) -> str:
    """``text`` as a C++ string literal: UTF-8 kept; quote, backslash, ``?`` (trigraphs) and control
    characters escaped (octal, which, unlike ``\\x``, cannot swallow the digits that follow)."""
    out = []
    for char in text:
        if char in '"\\?':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\{ord(char):03o}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def substitute(pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str], source: str, what: str) -> str:
    """``source`` with the one match of ``pattern`` replaced; InputError naming ``what`` when it is missing
    (a template edited out of shape)."""
    out, count = pattern.subn(repl, source, count=1)
    if count != 1:
        raise InputError(f"the board template has no setting {what}")
    return out


def stamp(comment: str, how: str, note: str = "") -> str:
    """The first line of a generated program: what made it and for which board."""
    return (f"{comment} Made by visioncast board-code for {how}: the settings and the label table are filled "
            f"in.{note}\n")
