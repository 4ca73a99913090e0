"""What a page costs a browser on the wire: this tree against a git revision (default: the parent of the
first commit that sliced the font), each served by its own subprocess on a free loopback port, loaded cold in
headless Chromium (Debian's, /usr/bin/chromium) in English and in Chinese.

For /detect and / it prints the bytes received for the first load (everything), its HTML and its fonts,
then for the next page (/classify) in the same browser context (cache warm), and how many requests that next
page made. Bytes, not times: contention does not change them. Asserts nothing.

    python bench/bench_page_weight.py [--base REV]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
SERVE = """import sys, tempfile, time
sys.path.insert(0, sys.argv[1])
from visioncast import config
try:
    from visioncast.server.app import create_app
except ImportError:
    from visioncast.server import create_app
from visioncast.server.wsgi import HttpServer
cfg = config.load(env={}, overrides={"data_dir": tempfile.mkdtemp(), "mqtt.enabled": False,
                                     "broker.enabled": False})
server = HttpServer(create_app(cfg), "127.0.0.1", int(sys.argv[2]), workers=4).start_in_thread()
print("ready", flush=True)
time.sleep(600)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(browser: Any, url: str, locale: str) -> tuple[int, int, int, int, int]:
    context = browser.new_context(locale=locale)
    page = context.new_page()
    done: list[Any] = []
    page.on("requestfinished", lambda request: done.append(request))  # noqa: PLW0108 — Playwright wants a function
    page.goto(url)
    page.wait_for_load_state("networkidle")
    sizes = [(r.resource_type, r.sizes()["responseBodySize"]) for r in done]
    first = sum(size for _, size in sizes)
    html = sum(size for kind, size in sizes if kind == "document")
    fonts = sum(size for kind, size in sizes if kind == "font")
    done.clear()
    page.goto(url.rsplit("/", 1)[0] + "/classify")
    page.wait_for_load_state("networkidle")
    after = sum(r.sizes()["responseBodySize"] for r in done)
    count = len(done)
    context.close()
    return first, html, fonts, after, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="a1a5db7", help="git revision to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base, "src"], check=True,
                                 capture_output=True).stdout
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        script = Path(tmp) / "serve.py"
        script.write_text(SERVE, encoding="utf-8")
        trees = {args.base[:10]: str(Path(tmp) / "src"), "this tree": str(ROOT / "src")}
        print(f"{'tree':10} {'lang':4} {'page':8} {'first KB':>9} {'HTML KB':>8} {'fonts KB':>9} "
              f"{'next page KB':>13} {'requests':>8}")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            for name, src in trees.items():
                port = free_port()
                server = subprocess.Popen([sys.executable, str(script), src, str(port)], text=True,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                try:
                    if server.stdout is None or not server.stdout.readline().startswith("ready"):
                        raise SystemExit(f"the server of {name} did not start")
                    for lang, locale in (("en", "en-US"), ("zh", "zh-CN")):
                        for path in ("/detect", "/"):
                            first, html, fonts, after, count = measure(
                                browser, f"http://127.0.0.1:{port}{path}", locale)
                            print(f"{name:10} {lang:4} {path:8} {first / 1024:9.1f} {html / 1024:8.1f} "
                                  f"{fonts / 1024:9.1f} {after / 1024:13.1f} {count:8d}", flush=True)
                finally:
                    server.terminate()
                    server.wait(timeout=10)
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
