"""tools/check_house.py: module and function sizes and import circles of src/visioncast (STYLE.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "check_house.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("check_house", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_house", module)
    spec.loader.exec_module(module)
    return module


def test_the_house_keeps_its_rules():
    assert load_tool().problems() == []


def test_the_circle_finder_sees_circles_and_only_those():
    circles = load_tool().circles
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"d"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"x": {"y"}, "y": set()}) == []
