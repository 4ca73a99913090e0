"""JSON text checked before it is parsed: its size and how deep it nests. Pure (bytes and re).

Python's parser recurses once per level (100,000 ``[`` is a RecursionError) and turns a few bytes of
numbers into tens of bytes of objects, so whoever parses text from outside (a request body, a zip's
project.json, a KServe header) calls :func:`check_json` first.
"""

from __future__ import annotations

import re

from visioncast.errors import InputError, TooLargeError

# A JSON string literal (unrolled: fast on a long base64 string), and what is not a bracket.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep(data: bytes, max_depth: int) -> bool:
    """Whether the JSON text ``data`` nests arrays/objects more than ``max_depth`` deep (strings are not
    looked into). Linear per level, at most ``max_depth`` passes; unbalanced text is left to the parser."""
    skeleton = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    for _ in range(max_depth):
        if not skeleton:
            return False
        reduced = _PAIR.sub(b"", skeleton)
        if len(reduced) == len(skeleton):
            return False  # unbalanced: the parser says what is wrong
        skeleton = reduced
    return bool(skeleton)


def check_json(data: bytes | str, *, max_bytes: int, max_depth: int, what: str = "JSON body") -> bytes:
    """``data`` as bytes when it may be parsed; TooLargeError (413) or InputError (400) otherwise."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) > max_bytes:
        raise TooLargeError(f"the {what} is {len(raw)} bytes; at most {max_bytes} are parsed "
                            "(server.max_json_kb)", code="json_too_large")
    if too_deep(raw, max_depth):
        raise InputError(f"the {what} nests arrays or objects more than {max_depth} deep "
                         "(server.max_json_depth)", code="json_too_deep")
    return raw
