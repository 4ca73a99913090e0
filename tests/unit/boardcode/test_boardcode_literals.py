"""Generated code is data: a table of hostile strings (line breaks, quotes, backslashes, trigraphs,
U+2028 and U+2029, NUL, comment and template delimiters, a label that was once a micro:bit statement)
through every generator, in every value a program holds (labels, texts, Wi-Fi name and password, broker,
login, topic). Each program is parsed (``ast`` for Python, tree-sitter for C++ and TypeScript) and has
exactly the statements and comments of the same program made with a plain value, and each value reads back
exactly: Python with ``ast.literal_eval``, C++ compiled and run by g++, the MakeCode program run by Node."""

from __future__ import annotations

import ast
import io
import json
import shutil
import subprocess
import tokenize
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.unit.boardcode.test_boardcode_programs import python_settings, run_makecode
from tests.unit.examples.test_board_programs import parse_errors

from visioncast.boardcode import Action, BoardSettings, generate
from visioncast.boardcode.makecode import fill_makecode
from visioncast.boardcode.settings import TEMPLATES
from visioncast.errors import InputError

HOSTILE = [
    'sad\nbasic.forever(() => basic.showString("PWNED"))',
    'sad\r\nimport os; os.system("x")  # ',
    'q"uote', "s'ingle", '"""\'\'\'', "back\\slash", "ends in \\", "tri??=gr??/aph??(??)",
    "js\u2028line\u2029sep", "*/ /* */ // -->", "\\u0041\\x41\\101\\n", "${x}`tick`", "#include <evil.h>",
    "\x1b[31mesc\x07\x7f", "nul\x00byte", "开心 😀 \u202eevil", "\ud800",
]
PLAIN = "x"
FIELDS = ("broker", "user", "password", "topic", "wifi_ssid", "wifi_password")


def settings_with(value: str) -> BoardSettings:
    """Every text of a program ``value``: the broker, the login, the topic, the Wi-Fi, a label and (where a
    text may be: one line, no control characters) its text."""
    return BoardSettings(broker=value, user=value, password=value, topic=value, wifi_ssid=value,
                         wifi_password=value,
                         actions={value: Action((1, 2, 3), 45, value if value.isprintable() else None),
                                  "plain": Action((4, 5, 6), None, "shown")})


def refused_for(board: str, value: str) -> bool:
    """Which values a generator must refuse: NUL and lone surrogates everywhere (no program file can hold
    them), and what cuts an OBLOQ serial command on the micro:bit."""
    if "\x00" in value or "\ud800" in value:
        return True
    return board == "microbit-obloq" and any(c in value for c in "|\r\n,")


def generated(board: str, value: str) -> str | None:
    try:
        return generate(board, settings_with(value))[1]
    except InputError:
        assert refused_for(board, value), f"{board} refused {value!r}"
        return None


@pytest.mark.parametrize("value", HOSTILE, ids=ascii)
@pytest.mark.parametrize("board", ["micropython", "unihiker-m10"])
def test_python_programs_hold_each_value_as_a_literal(board: str, value: str) -> None:
    text = generated(board, value)
    if text is None:
        return
    plain = generate(board, settings_with(PLAIN))[1]
    assert python_shape(text) == python_shape(plain)
    assert comments(text) == comments(plain)
    values = python_settings(text)
    for name in ("BROKER", "USER", "PASSWORD", "TOPIC"):
        assert values[name] == value
    if board == "micropython":
        assert (values["WIFI_SSID"], values["WIFI_PASSWORD"]) == (value, value)
    assert list(values["ACTIONS"]) == [value, "plain"]
    assert values["ACTIONS"][value][2] == (value if value.isprintable() else None)


@pytest.mark.parametrize("value", HOSTILE, ids=ascii)
def test_the_arduino_sketch_holds_each_value_as_a_literal(value: str) -> None:
    text = generated("esp32-arduino", value)
    if text is None:
        return
    plain = generate("esp32-arduino", settings_with(PLAIN))[1]
    assert parse_errors(text.encode("utf-8"), "cpp") == []
    assert tree_shape(text, "cpp") == tree_shape(plain, "cpp")


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
def test_the_arduino_values_read_back_when_compiled(tmp_path: Path) -> None:
    """Every accepted hostile value, in every setting and in the table, compiled with g++ in one program and
    printed back (as hex, so NUL or a trigraph cannot hide)."""
    cases = [(v, t) for v in HOSTILE if (t := generated("esp32-arduino", v)) is not None]
    parts = ["#include <cstdint>\n#include <cstdio>\n#include <cstring>\n"
             "static void hex(const char *s) { for (; *s; s++) std::printf(\"%02x\", (unsigned char)*s);"
             " std::printf(\"\\n\"); }\n"]
    for i, (_, text) in enumerate(cases):
        head = text[text.index("const char *WIFI_SSID"):text.index("WiFiClient net;")]
        parts.append(f"namespace n{i} {{\n{head}\nvoid dump() {{ hex(WIFI_SSID); hex(WIFI_PASSWORD); "
                     f"hex(BROKER); hex(USER); hex(PASSWORD); hex(TOPIC); for (const Action &a : ACTIONS) "
                     f"{{ hex(a.label); hex(a.text ? a.text : \"\"); }} }}\n}}\n")
    parts.append("int main() {\n" + "".join(f"  n{i}::dump();\n" for i in range(len(cases))) + "}\n")
    source = tmp_path / "values.cpp"
    source.write_text("".join(parts), encoding="utf-8")
    subprocess.run(["g++", "-std=gnu++17", "-trigraphs", "-w", "-o", str(tmp_path / "values"), str(source)],
                   check=True, timeout=120)
    out = subprocess.run([str(tmp_path / "values")], capture_output=True, check=True, timeout=10, text=True)
    lines = iter(out.stdout.splitlines())
    for value, _ in cases:
        texts = [bytes.fromhex(next(lines)).decode("utf-8") for _ in range(10)]
        shown = value if value.isprintable() else ""
        assert texts == [value] * 6 + [value, shown, "plain", "shown"], value


@pytest.mark.parametrize("value", HOSTILE, ids=ascii)
def test_the_makecode_program_holds_each_value_as_a_literal(value: str, tmp_path: Path) -> None:
    text = generated("microbit-obloq", value)
    if text is None:  # refused by generate(): the filler on its own must still write literals
        if "\x00" in value or "\ud800" in value:
            return
        source = Path(__file__).resolve().parents[3] / "src" / "visioncast" / "boards" / TEMPLATES[
            "microbit-obloq"][0]
        text = fill_makecode(source.read_text(encoding="utf-8"), settings_with(value))
    plain = generate("microbit-obloq", settings_with(PLAIN))[1]
    assert parse_errors(text.encode("utf-8"), "typescript") == []
    assert tree_shape(text, "typescript") == tree_shape(plain, "typescript")
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed")
    calls = run_makecode(text, [value], tmp_path)
    assert ["wifi", "P1", "P2", value, value] in calls
    assert ["mqtt", value, value, "siot/board", "Siot", value] in calls
    assert ["topic", "topic_1", value] in calls


def python_shape(text: str) -> list[str]:
    """The top-level statements of a Python program: their kind and what they bind."""
    shape = []
    for node in ast.parse(text).body:
        names = [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
        shape.append(f"{type(node).__name__} {getattr(node, 'name', '')} {' '.join(names)}")
    return shape


def comments(text: str) -> int:
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return sum(1 for tok in tokens if tok.type == tokenize.COMMENT)


def tree_shape(text: str, grammar: str) -> list[str]:
    """The top-level nodes of a C++ or TypeScript program: their kind, and for an expression statement the
    function it calls; every comment one line that starts with //."""
    ts = pytest.importorskip("tree_sitter")
    if grammar == "cpp":
        language = pytest.importorskip("tree_sitter_cpp").language()
    else:
        language = pytest.importorskip("tree_sitter_typescript").language_typescript()
    root = ts.Parser(ts.Language(language)).parse(text.encode("utf-8")).root_node
    shape: list[str] = []
    for node in root.children:
        if node.type == "comment":
            body = (node.text or b"").decode("utf-8")
            assert body.startswith("//"), body
            assert not any(c in body for c in "\n\r\u2028\u2029"), body
            shape.append("comment")
            continue
        callee = node.child(0).child_by_field_name("function") if node.type == "expression_statement" and \
            node.child(0) is not None else None
        shape.append(node.type + ("" if callee is None else " " + (callee.text or b"").decode("utf-8")))
    return shape


def test_the_plain_programs_have_the_shape_the_tests_compare_with() -> None:
    """The comparison has something to compare: the MakeCode program is six calls and its comments, the
    sketch its settings, table and functions."""
    shape = tree_shape(generate("microbit-obloq", settings_with(PLAIN))[1], "typescript")
    calls = [s for s in shape if s.startswith("expression_statement")]
    assert "expression_statement DFRobotWiFiIoTUART.mqttCallbackUserMore" in calls
    assert shape.count("comment") > 5
    assert len(tree_shape(generate("esp32-arduino", settings_with(PLAIN))[1], "cpp")) > 20


def test_a_label_that_was_a_statement_stays_in_its_string(tmp_path: Path) -> None:
    """Issue 27: this class name became a top-level statement of the micro:bit program."""
    label = 'sad\nbasic.forever(() => basic.showString("PWNED"))'
    with pytest.raises(InputError, match="must not hold"):
        generate("microbit-obloq", settings_with(label))
    source = Path(__file__).resolve().parents[3] / "src" / "visioncast" / "boards" / "microbit_obloq.ts"
    settings = replace(settings_with(PLAIN), actions={label: Action(), "b": Action(text="hi")})
    text = fill_makecode(source.read_text(encoding="utf-8"), settings)
    assert "\nbasic.forever(() => basic.showString" not in text
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed")
    calls: list[Any] = run_makecode(text, [label, "b"], tmp_path)
    assert ["string", "PWNED"] not in calls
    assert ["string", label] in calls  # the label is shown as it came: one string
    assert ["string", "hi"] in calls
    assert json.dumps(label) in text
