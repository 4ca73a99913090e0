"""The house rules of STYLE.md that a machine can check, read from the source with ``ast``: no module of
src/visioncast over MAX_MODULE_LINES lines, no function over MAX_FUNCTION_LINES lines, no import circle among
its modules (imports inside functions count; ``if TYPE_CHECKING:`` imports do not).

    python tools/check_house.py        # prints each breach; exit status 1 when there is one

KNOWN lists the breaches left to fix (each with its reason); the check fails on any other, and on a KNOWN
entry that no longer breaks the rule (so the list only shrinks). tests/unit/test_house.py runs it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "visioncast"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

KNOWN: dict[str, str] = {
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:``."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                inside.update(id(sub) for sub in ast.walk(stmt))
    return inside


def imports_of(path: Path, tree: ast.AST, modules: set[str]) -> set[str]:
    """The visioncast modules ``path`` imports (``from pkg import mod`` names the module ``pkg.mod``)."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    skip = _type_checking_blocks(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {name for name in found if name in modules and name != this}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def breaches() -> dict[str, str]:
    """{key: what is wrong} for every breach, keys as in KNOWN."""
    trees = {module_name(p): (p, ast.parse(p.read_text(encoding="utf-8"), filename=str(p)))
             for p in sorted(SRC.rglob("*.py"))}
    found: dict[str, str] = {}
    for name, (path, tree) in trees.items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            found[f"module {name}"] = f"{lines} lines (at most {MAX_MODULE_LINES})"
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found[f"function {name}.{node.name}"] = f"{length} lines (at most {MAX_FUNCTION_LINES})"
    graph = {name: imports_of(path, tree, set(trees)) for name, (path, tree) in trees.items()}
    for component in circles(graph):
        packages = {m.rpartition(".")[0] for m in component}
        key = f"circle {packages.pop()}.*" if len(packages) == 1 else f"circle {component[0]}"
        found[key] = "import circle: " + ", ".join(component)
    return found


def problems() -> list[str]:
    """Every breach not in KNOWN, and every KNOWN entry that is fixed (to be dropped from the list)."""
    found = breaches()
    new = [f"{key}: {why}" for key, why in sorted(found.items()) if key not in KNOWN]
    fixed = [f"{key}: fixed, drop it from KNOWN in tools/check_house.py" for key in KNOWN if key not in found]
    return new + fixed


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
