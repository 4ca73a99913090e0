"""The architecture of STYLE.md §1 read from the source with ``ast`` (imports point one way), and the
public API of the package, locked."""

from __future__ import annotations

import ast
import functools
import graphlib
import sys
from importlib import metadata
from pathlib import Path

import pytest

import visioncast

SRC = Path(visioncast.__file__).parent
PEERS_AND_ENGINES = {"flask", "werkzeug", "paho", "amqtt", "socket", "requests", "onnxruntime", "openvino",
                     "cheroot", "h11"}
ENGINES = {"onnxruntime", "openvino"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (lazy imports inside functions count)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                found.add(node.module)
    return found


FILES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


@functools.cache
def imports(module: str) -> frozenset[str]:
    return frozenset(imports_of(FILES[module]))


def in_package(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def modules_in(*packages: str) -> list[str]:
    return [m for m in FILES if in_package(m, *(f"visioncast.{p}" for p in packages))]


def test_the_scan_sees_the_layers():
    for layer in ("core", "tasks", "runtimes", "models", "cli"):
        assert modules_in(layer), f"no modules found in visioncast.{layer}"
    assert "numpy" in imports("visioncast.core.boxes")


@pytest.mark.parametrize("module", modules_in("core"))
def test_core_imports_only_numpy_stdlib_and_errors(module):
    ours = {i for i in imports(module) if top(i) == "visioncast"}
    assert all(in_package(i, "visioncast.core", "visioncast.errors") for i in ours), ours
    third_party = {top(i) for i in imports(module) if top(i) not in sys.stdlib_module_names} - {"visioncast"}
    assert third_party <= {"numpy"}, third_party
    assert "socket" not in {top(i) for i in imports(module)}


@pytest.mark.parametrize("module", modules_in("core", "tasks"))
def test_core_and_tasks_stay_free_of_io_peers_and_engines(module):
    assert not {top(i) for i in imports(module)} & PEERS_AND_ENGINES


@pytest.mark.parametrize("module", modules_in("tasks"))
def test_tasks_import_core_and_the_runtime_protocol_only(module):
    ours = {i for i in imports(module) if top(i) == "visioncast"}
    allowed = ("visioncast.core", "visioncast.errors", "visioncast.tasks", "visioncast.runtimes.base")
    assert all(in_package(i, *allowed) for i in ours), ours


def test_only_runtimes_import_the_engines():
    offenders = {m: imports(m) for m in FILES
                 if not in_package(m, "visioncast.runtimes") and {top(i) for i in imports(m)} & ENGINES}
    assert not offenders


def test_only_server_and_cli_import_server_and_cli():
    edges = ("visioncast.server", "visioncast.cli")
    offenders = {m: sorted(i for i in imports(m) if in_package(i, *edges))
                 for m in FILES if not in_package(m, *edges, "visioncast.__main__")}
    assert not {m: i for m, i in offenders.items() if i}


PUBLIC_API = [
    "Classification",
    "ConfigError",
    "Detections",
    "Frame",
    "InputError",
    "ModelError",
    "NotFoundError",
    "Result",
    "SinkError",
    "SourceError",
    "VisioncastError",
    "__version__",
]


def test_public_api_is_locked():
    assert sorted(visioncast.__all__) == PUBLIC_API
    for name in visioncast.__all__:
        assert hasattr(visioncast, name), name


def test_version_matches_the_distribution():
    assert visioncast.__version__ == metadata.version("visioncast")


def modules_imported_by(module: str) -> set[str]:
    """The modules of visioncast that ``module`` imports (``from package import submodule`` included)."""
    names = set(imports(module))
    for node in ast.walk(ast.parse(FILES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name in FILES and name != module}


def test_no_import_circle():
    # lazy imports and TYPE_CHECKING imports count: a circle dodged by a deferred import is still one
    graph = {module: modules_imported_by(module) for module in FILES}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' → '.join(exc.args[1])}")
