"""Windows and macOS by construction: a scan of src/ for what only POSIX (or only Linux) has, outside the
places that check the OS first, and text files opened without naming their encoding (a Chinese Windows
reads them as GBK). Windows and macOS themselves are not available to the tests: this keeps the code as it
was read for them (docs/install.md says what was and was not run).

A call is guarded when it sits under an ``if``/``elif``/conditional expression whose test asks the OS
(``sys.platform``, ``os.name``, ``hasattr(os, …)``/``hasattr(signal, …)``), in a ``try`` whose handler catches
``AttributeError`` (the attribute is missing elsewhere), or in a function of ALLOWED, each with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from visioncast.config import default_cache_dir, default_data_dir

SRC = Path(__file__).parents[2] / "src" / "visioncast"
SKIP = {"boards"}  # MicroPython and pinpong programs for the boards, not modules of ours

POSIX_ONLY_CALLS = {
    "os.fork", "os.forkpty", "os.setsid", "os.setpgrp", "os.setpgid", "os.getpgid", "os.killpg", "os.kill",
    "os.geteuid", "os.getuid", "os.getgid", "os.getegid", "os.chown", "os.lchown", "os.nice", "os.wait",
    "os.waitpid", "os.wait3", "os.wait4", "os.mkfifo", "os.symlink", "os.sched_getaffinity", "os.getloadavg",
    "os.statvfs", "os.sysconf", "os.uname", "signal.alarm", "signal.setitimer", "signal.pause",
    "signal.siginterrupt", "signal.pthread_kill",
}
POSIX_ONLY_NAMES = {"signal.SIGKILL", "signal.SIGHUP", "signal.SIGUSR1", "signal.SIGUSR2", "signal.SIGCHLD",
                    "signal.SIGALRM", "signal.SIGPIPE", "signal.SIGQUIT", "signal.SIGSTOP", "signal.SIGCONT"}
POSIX_ONLY_MODULES = {"fcntl", "pwd", "grp", "resource", "termios", "tty", "pty", "posix", "crypt"}
POSIX_ONLY_KEYWORDS = {"preexec_fn", "start_new_session", "pass_fds", "process_group"}
POSIX_PATHS = ("/proc", "/dev/", "/sys/", "/etc/", "/usr/", "/opt/", "/tmp", "/var/")

# "module.function": why it is portable as it stands.
ALLOWED = {
    "network._linux_owner": "called by port_owner only on Linux",
    "network._listening_inodes": "called by _linux_owner only (Linux)",
    "network._lsof_owner": "lsof's usual places; port_owner says 'another program' where it is missing",
    "broker.mosquitto._SEARCH": "Mosquitto's install folder on each OS, Windows' included",
    "cli.firewall.MACOS_FIREWALL": "macOS's firewall tool, used only when sys.platform is darwin",
    "cli.doctor.list_cameras": "Linux's /dev/video* under a sys.platform check; OpenCV's indexes elsewhere",
}


def modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if not SKIP & set(p.relative_to(SRC).parts))


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


def asks_the_os(test: ast.AST) -> bool:
    text = ast.unparse(test)
    return any(k in text for k in ("sys.platform", "os.name", "platform ==", "hasattr(os", "hasattr(signal"))


class Scan(ast.NodeVisitor):
    """Collects (line, what) for each POSIX-only use outside a guard, and text opens without an encoding."""

    def __init__(self, module: str) -> None:
        self.module, self.scope, self.guards = module, [], 0
        self.found: list[tuple[int, str]] = []
        self.seen: set[str] = set()  # every scope's dotted name, to keep ALLOWED from going stale

    def _where(self) -> str:
        return ".".join([self.module, *self.scope])

    def _allowed(self) -> bool:
        names = {".".join([self.module, *self.scope[:i]]) for i in range(1, len(self.scope) + 1)}
        return bool(names & set(ALLOWED))

    def report(self, node: ast.AST, what: str) -> None:
        if not self.guards and not self._allowed():
            self.found.append((getattr(node, "lineno", 0), what))

    def _scoped(self, node: ast.AST, name: str) -> None:
        self.scope.append(name)
        self.seen.add(self._where())
        self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scoped(node, node.name)

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815 - ast.NodeVisitor's naming

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node, node.name)

    def visit_Assign(self, node: ast.Assign) -> None:
        targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if targets and not self.scope:
            self._scoped(node, targets[0])
        else:
            self.generic_visit(node)

    def _guarded(self, node: ast.AST, test: ast.AST) -> None:
        guard = asks_the_os(test)
        self.guards += guard
        self.generic_visit(node)
        self.guards -= guard

    def visit_If(self, node: ast.If) -> None:
        self._guarded(node, node.test)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._guarded(node, node.test)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        self._guarded(node, node.values[0])

    def visit_Try(self, node: ast.Try) -> None:
        caught = " ".join(ast.unparse(h.type) for h in node.handlers if h.type is not None)
        guard = "AttributeError" in caught
        self.guards += guard
        for statement in node.body:
            self.visit(statement)
        self.guards -= guard
        for part in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(part)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] in POSIX_ONLY_MODULES:
                self.report(node, f"import {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if (node.module or "").split(".")[0] in POSIX_ONLY_MODULES:
            self.report(node, f"from {node.module} import …")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if dotted(node) in POSIX_ONLY_NAMES:
            self.report(node, dotted(node))
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value.startswith(POSIX_PATHS):
            self.report(node, f"the POSIX path {node.value!r}")

    def visit_Expr(self, node: ast.Expr) -> None:
        if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):  # a docstring
            self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = dotted(node.func)
        if name in POSIX_ONLY_CALLS:
            self.report(node, f"{name}()")
        for keyword in node.keywords:
            if keyword.arg in POSIX_ONLY_KEYWORDS:
                self.report(node, f"{name}({keyword.arg}=…)")
        self._text_without_encoding(node, name)
        self.generic_visit(node)

    def _text_without_encoding(self, node: ast.Call, name: str) -> None:
        keywords = {k.arg for k in node.keywords}
        if "encoding" in keywords:
            return
        attr = name.rsplit(".", 1)[-1]
        if (attr, len(node.args)) in (("read_text", 0), ("write_text", 1)):
            self.found.append((node.lineno, f"{name}() without encoding="))
        elif name == "open" or (attr == "open" and name.startswith(("Path", "path", "self.path"))):
            at = 1 if name == "open" else 0  # open(file, mode) and Path.open(mode)
            mode = next((a.value for a in node.args[at:at + 1] if isinstance(a, ast.Constant)), None)
            mode = next((k.value.value for k in node.keywords if k.arg == "mode"
                         and isinstance(k.value, ast.Constant)), mode)
            if not (isinstance(mode, str) and "b" in mode):
                self.found.append((node.lineno, f"{name}() in text mode without encoding="))


def test_no_posix_only_call_outside_a_guard_and_no_text_file_without_its_encoding() -> None:
    problems, seen = [], set()
    paths = modules()
    assert len(paths) > 100
    for path in paths:
        module = ".".join(path.relative_to(SRC).with_suffix("").parts)
        scan = Scan(module)
        scan.visit(ast.parse(path.read_text(encoding="utf-8")))
        problems += [f"{path.relative_to(SRC)}:{line}: {what}" for line, what in scan.found]
        seen |= scan.seen
    assert problems == []
    assert set(ALLOWED) <= seen, "an allowed place is gone: remove it from ALLOWED"


def test_the_scan_finds_what_it_looks_for() -> None:
    source = '''
import fcntl
import os, signal, subprocess, sys
def stop(pid):
    os.kill(pid, signal.SIGKILL)
    subprocess.Popen(["x"], start_new_session=True)
    open("notes.txt").read()
    data = Path("/proc/net/tcp").read_text()
def fine(pid):
    if sys.platform.startswith("linux"):
        os.kill(pid, signal.SIGKILL)
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = 1
    open("a.bin", "rb").read()
    Path("x").read_text(encoding="utf-8")
'''
    scan = Scan("example")
    scan.visit(ast.parse(source))
    assert [what for _, what in scan.found] == [
        "import fcntl", "os.kill()", "signal.SIGKILL", "subprocess.Popen(start_new_session=…)",
        "open() in text mode without encoding=", ".read_text() without encoding=",
        "the POSIX path '/proc/net/tcp'"]


@pytest.mark.parametrize(("platform", "env", "data", "cache"), [
    ("linux", {}, ".local/share/visioncast", ".cache/visioncast/models"),
    ("darwin", {}, "Library/Application Support/visioncast", "Library/Caches/visioncast/models"),
    ("win32", {}, "AppData/Local/visioncast", "AppData/Local/visioncast/Cache/models"),
])
def test_each_os_keeps_its_data_and_models_in_its_own_folders(platform: str, env: dict[str, str], data: str,
                                                              cache: str) -> None:
    assert default_data_dir(env, platform) == Path.home() / data
    assert default_cache_dir(env, platform) == Path.home() / cache
    assert default_data_dir({"LOCALAPPDATA": "D:/Local"}, "win32") == Path("D:/Local/visioncast")
    assert default_data_dir({"XDG_DATA_HOME": "/srv/x"}, platform) == Path("/srv/x/visioncast")
