"""The board programs under examples/ are at least valid source for their toolchain.

Python programs (CPython and MicroPython) are compiled. The Arduino sketch (C++) and the MakeCode program
(TypeScript) are parsed with tree-sitter's C++ and TypeScript grammars (pip packages of the test extra): no
ESP32 Arduino core or MakeCode compiler can be installed offline, so a parse is what CI can check; the
MicroPython program is also run against a real broker in tests/integration/test_board_program.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PYTHON = sorted(EXAMPLES.rglob("*.py"))
ARDUINO = sorted(EXAMPLES.rglob("*.ino"))
MAKECODE = sorted(EXAMPLES.rglob("*.ts"))


def parse_errors(source: bytes, grammar: str) -> list[str]:
    """Where tree-sitter found a syntax error or a missing token ('line:column kind'), empty when none."""
    ts = pytest.importorskip("tree_sitter")
    if grammar == "cpp":
        language = pytest.importorskip("tree_sitter_cpp").language()
    else:
        language = pytest.importorskip("tree_sitter_typescript").language_typescript()
    tree = ts.Parser(ts.Language(language)).parse(source)
    errors, stack = [], [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            errors.append(f"{node.start_point[0] + 1}:{node.start_point[1] + 1} {node.type}")
        stack.extend(node.children)
    return errors


def test_every_kind_of_board_has_a_program() -> None:
    names = {p.name for p in [*PYTHON, *ARDUINO, *MAKECODE]}
    assert {"mqtt_led_board.py", "unihiker_m10.py", "esp32_led.ino", "microbit_obloq.ts"} <= names


@pytest.mark.parametrize("path", PYTHON, ids=lambda p: p.name)
def test_python_programs_compile(path: Path) -> None:
    compile(path.read_text(encoding="utf-8"), str(path), "exec")


@pytest.mark.parametrize("path", ARDUINO, ids=lambda p: p.name)
def test_arduino_sketches_parse_as_cpp(path: Path) -> None:
    assert parse_errors(path.read_bytes(), "cpp") == []


@pytest.mark.parametrize("path", MAKECODE, ids=lambda p: p.name)
def test_makecode_programs_parse_as_typescript(path: Path) -> None:
    assert parse_errors(path.read_bytes(), "typescript") == []


@pytest.mark.parametrize(("source", "grammar"), [
    (b"void loop() { if (x { } }", "cpp"),
    (b"basic.forever(function () { let x = ; })", "typescript"),
])
def test_the_parse_check_finds_broken_source(source: bytes, grammar: str) -> None:
    assert parse_errors(source, grammar)
