"""CI's packaging check (.ci/run): a wheel that installs anywhere.

1. ``python -m build`` makes an sdist and, from it, a wheel; the wheel is pure Python (``py3-none-any``) and
   holds every file of the package that git tracks (models, pages, fonts, samples, board programs), the sdist
   the same plus README, LICENSE and pyproject.toml.
2. The wheel goes into a fresh virtual environment (``pip install --no-deps``: the dependencies are the ones
   already installed for the tests, seen through a ``.pth`` file, so nothing is downloaded); there, in a
   network namespace with nothing but loopback (``unshare -rn``), ``visioncast serve`` exactly as the README
   starts it loads the shipped models, answers the API with the shipped sample and serves the pages.
3. ``pipx install`` of the wheel (``--no-deps``, same ``.pth``) gives a working ``visioncast`` command.

Usage: ``python tools/check_dist.py`` from the repository (prints one line per step; exit 1 on a failure).
Needs the packages ``build`` and ``pipx`` (the test extras). I/O: builds into a temporary folder, runs
processes, talks HTTP on loopback only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READY_S = 120.0  # models load in seconds; a busy CI machine gets room


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":  # step 2, inside the network namespace
        serve_offline(Path(sys.argv[2]), Path(sys.argv[3]))
        return 0
    with tempfile.TemporaryDirectory(prefix="visioncast-dist-") as tmp:
        work = Path(tmp)
        wheel, sdist = build(work / "dist")
        check_contents(wheel, sdist)
        venv = fresh_venv(work / "venv", wheel)
        t0 = time.monotonic()
        run_serve_check(venv, work / "home")
        t1 = time.monotonic()
        check_pipx(wheel, work / "pipx")
        step(f"serve check {t1 - t0:.0f} s, pipx check {time.monotonic() - t1:.0f} s")
    print("dist: ok")
    return 0


def step(text: str) -> None:
    print(f"dist: {text}", flush=True)


def run(command: list[str | Path], **kwargs: object) -> str:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, check=False, **kwargs)
    if done.returncode != 0:
        raise SystemExit(f"dist: `{' '.join(map(str, command))}` failed ({done.returncode}):\n"
                         f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def build(out: Path) -> tuple[Path, Path]:
    t0 = time.monotonic()
    # --no-isolation: the build backend installed with the test extras, not one downloaded per build
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT])
    wheel, sdist = next(out.glob("*.whl")), next(out.glob("*.tar.gz"))
    step(f"built {sdist.name} ({sdist.stat().st_size / 1e6:.1f} MB) and {wheel.name} "
         f"({wheel.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - t0:.0f} s")
    return wheel, sdist


def check_contents(wheel: Path, sdist: Path) -> None:
    if not wheel.name.endswith("-py3-none-any.whl"):
        raise SystemExit(f"dist: the wheel is not pure Python: {wheel.name}")
    tracked = run(["git", "-C", ROOT, "ls-files", "src/visioncast"]).split()
    package = {p.removeprefix("src/") for p in tracked}
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        wheel_meta = zf.read(next(n for n in names if n.endswith(".dist-info/WHEEL"))).decode()
    if "Root-Is-Purelib: true" not in wheel_meta:
        raise SystemExit("dist: the wheel is not purelib")
    missing = sorted(package - names)
    if missing:
        raise SystemExit(f"dist: the wheel lacks {len(missing)} file(s) of the package: {missing[:10]}")
    with tarfile.open(sdist) as tf:
        root = tf.getnames()[0].split("/")[0]
        in_sdist = {n.removeprefix(f"{root}/") for n in tf.getnames()}
    lacking = sorted({"README.md", "LICENSE", "pyproject.toml", *tracked} - in_sdist)
    if lacking:
        raise SystemExit(f"dist: the sdist lacks {lacking[:10]}")
    step(f"the wheel holds all {len(package)} files of the package (models, pages, samples, board programs); "
         f"the sdist too, with README, LICENSE and pyproject.toml")


def link_dependencies(python: Path) -> None:
    """Let the environment of ``python`` import the packages installed here (the tests' dependencies)."""
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "visioncast-ci-deps.pth").write_text("\n".join(sorted(ours)) + "\n", encoding="utf-8")


def fresh_venv(folder: Path, wheel: Path) -> Path:
    run([sys.executable, "-m", "venv", "--without-pip", folder])
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    link_dependencies(python)
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel])
    where = run([python, "-c", "import visioncast; print(visioncast.__file__)"]).strip()
    if not Path(where).is_relative_to(folder):
        raise SystemExit(f"dist: the fresh environment imports visioncast from {where}, not from the wheel")
    step(f"installed the wheel into a fresh environment ({where})")
    return folder


def run_serve_check(venv: Path, home: Path) -> None:
    """``serve_offline`` inside a network namespace with loopback only, when this machine can make one."""
    home.mkdir()
    me = [sys.executable, str(Path(__file__).resolve()), "--serve", str(venv), str(home)]
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare and ip:
        probe = subprocess.run([unshare, "-rn", ip, "link", "set", "lo", "up"], capture_output=True,
                               check=False)
        if probe.returncode == 0:
            script = f'"{ip}" link set lo up && exec "$@"'
            print(run([unshare, "-rn", "sh", "-c", script, "sh", *me]), end="", flush=True)
            return
    step("no network namespace here (unshare/ip missing or refused): serving on this machine's loopback")
    print(run(me), end="", flush=True)


def serve_offline(venv: Path, home: Path) -> None:
    """``visioncast serve`` as the README starts it; the sample answers, the pages and static files load."""
    offline = not _has_route()
    env = {**os.environ, "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache")}
    port = 5000 if offline else _free_port()
    command = [str(venv / "bin" / "visioncast"), "serve"] + ([] if offline else ["--port", str(port)])
    log = (home / "serve.log").open("w", encoding="utf-8")
    proc = subprocess.Popen(command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, proc, home / "serve.log")
        code = "import visioncast.cli.infer as i; print(i.sample_image())"
        sample = Path(run([venv / "bin" / "python", "-c", code]).strip()).read_bytes()
        request = urllib.request.Request(f"{base}/api/v1/detect", data=sample, method="POST")
        with urllib.request.urlopen(request, timeout=30) as resp:
            answer = json.loads(resp.read())
        labels = sorted({d["label"] for d in answer["detections"]})
        for path in ("/", "/detect", "/static/app.css", "/static/i18n/zh.json"):
            with urllib.request.urlopen(f"{base}{path}", timeout=30) as resp:
                resp.read()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        log.close()
    text = (home / "serve.log").read_text(encoding="utf-8")
    if "Traceback" in text or proc.returncode != 0:
        raise SystemExit(f"dist: serve failed (exit {proc.returncode}):\n{text[-3000:]}")
    where = "with no network (loopback only)" if offline else "on loopback"
    step(f"`visioncast serve` from the wheel, {where}: the sample found {', '.join(labels)}; pages load")


def _has_route() -> bool:
    import socket  # noqa: PLC0415 - only this check needs it

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
        except OSError:
            return False
    return True


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"dist: serve ended at start:\n{log.read_text(encoding='utf-8')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as resp:
                if json.loads(resp.read()).get("ready"):
                    return
        except OSError:
            pass
        time.sleep(0.5)
    text = log.read_text(encoding="utf-8")
    raise SystemExit(f"dist: serve not ready within {READY_S:.0f} s:\n{text[-3000:]}")


def deps_wheel(folder: Path) -> Path:
    """A wheel holding only a .pth file naming this interpreter's site-packages (the tests' dependencies)."""
    folder.mkdir(parents=True)
    paths = "\n".join(sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})) + "\n"
    info = "visioncast_ci_deps-1.0.dist-info"
    files = {"visioncast_ci_deps.pth": paths,
             f"{info}/METADATA": "Metadata-Version: 2.1\nName: visioncast-ci-deps\nVersion: 1.0\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: check_dist\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    record = "".join(f"{name},sha256={_digest(text)},{len(text.encode())}\n" for name, text in files.items())
    path = folder / "visioncast_ci_deps-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in {**files, f"{info}/RECORD": record + f"{info}/RECORD,,\n"}.items():
            zf.writestr(name, text)
    return path


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def check_pipx(wheel: Path, folder: Path) -> None:
    # pipx's shared pip is made (and upgraded from PyPI) once per machine, like pip's own cache
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    shared = cache / "visioncast-ci" / "pipx-shared"
    env = {**os.environ, "PIPX_HOME": str(folder / "home"), "PIPX_BIN_DIR": str(folder / "bin"),
           "PIPX_MAN_DIR": str(folder / "man"), "PIPX_SHARED_LIBS": str(shared)}
    # pipx reads the dependencies' metadata in its new environment: a wheel of one .pth file, installed
    # first, lets it see the ones installed here
    links = deps_wheel(folder / "wheels")
    run([sys.executable, "-m", "pipx", "install", "--preinstall", links, "--pip-args=--no-deps", wheel],
        env=env)
    command = folder / "bin" / "visioncast"
    version = run([command, "--version"], env=env).strip()
    listing = run([command, "models"], env=env)
    if "yolox-nano" not in listing:
        raise SystemExit(f"dist: `visioncast models` from pipx lists no shipped model:\n{listing}")
    step(f"pipx install of the wheel: `visioncast --version` says {version!r}, `visioncast models` lists the "
         f"shipped models")


if __name__ == "__main__":
    sys.exit(main())
