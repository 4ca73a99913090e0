"""core/jsontext.py: JSON text is measured before it is parsed (depth without recursion, size)."""

from __future__ import annotations

import json

import pytest

from visioncast.core.jsontext import check_json, too_deep
from visioncast.errors import InputError, TooLargeError


@pytest.mark.parametrize(("text", "depth", "deep"), [
    (b"[]", 1, False),
    (b"[[]]", 1, True),
    (b"[[]]", 2, False),
    (b'{"a": [{"b": [1, 2]}]}', 4, False),
    (b'{"a": [{"b": [1, 2]}]}', 3, True),
    (b'["[[[[[[", "]]]]"]', 1, False),  # brackets inside strings do not nest
    (b'["\\"[[[[", 1]', 1, False),  # nor after an escaped quote
    (b"[" * 100_000, 32, False),  # unbalanced: left to the parser, which refuses it
    (b"[" * 40 + b"]" * 40, 32, True),
    (b'{"image": "' + b"A" * 1_000_000 + b'"}', 1, False),
])
def test_depth_is_measured_without_parsing(text: bytes, depth: int, deep: bool) -> None:
    assert too_deep(text, depth) is deep


def test_depth_matches_what_the_parser_builds() -> None:
    value: object = 1
    for level in range(1, 20):
        value = [value] if level % 2 else {"k": value}
        text = json.dumps(value).encode()
        assert not too_deep(text, level)
        assert too_deep(text, level - 1)


def test_check_json_names_the_limit() -> None:
    with pytest.raises(TooLargeError, match=r"server\.max_json_kb"):
        check_json(b"[" + b"1," * 100 + b"1]", max_bytes=100, max_depth=4)
    with pytest.raises(InputError, match="more than 2 deep"):
        check_json("[[[1]]]", max_bytes=100, max_depth=2)
    assert check_json("[[1]]", max_bytes=100, max_depth=2) == b"[[1]]"
