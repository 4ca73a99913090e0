"""The pages' font and files in a real Chromium that sees no Chinese font of the system (fontconfig limited to
DejaVu): names children type (猫咪, 咧嘴笑) are drawn with visioncast's own font, from the slices their
characters need; an English page downloads no Chinese slice but the small one of its language switch
("中文"); pages, scripts and styles come compressed and, under their hashed URLs, from the browser's cache
on the next page."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, SIZES, TIMEOUT_MS, new_teach_project

FONTS = Path(str(resources.files("visioncast"))) / "server" / "static" / "fonts" / "cjk"
FAMILY = "VC Noto Sans SC"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
GLYPHS = """async ([chars, family]) => {
  await document.fonts.load(`40px "${family}"`, chars);  // a canvas does not ask for fonts by itself
  const draw = (c, stack) => {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 48;
    const ctx = canvas.getContext("2d");
    ctx.font = `40px ${stack}`;
    ctx.fillText(c, 4, 42);
    return canvas.toDataURL();
  };
  return {system: [...chars].map((c) => draw(c, "sans-serif")),
          ours: [...chars].map((c) => draw(c, `"${family}", sans-serif`)),
          loaded: [...document.fonts].filter((f) => f.family === family && f.status === "loaded").length};
}"""


def slice_of(char: str) -> str:
    """The slice file (e.g. "12.woff2") that holds ``char``, from the font's manifest."""
    for entry in json.loads((FONTS / "slices.json").read_text(encoding="utf-8"))["slices"]:
        for part in entry["range"].split(","):
            low, _, high = part.removeprefix("U+").partition("-")
            if int(low, 16) <= ord(char) <= int(high or low, 16):
                return str(entry["file"])
    raise AssertionError(f"no slice holds {char!r}")


@pytest.fixture(scope="module")
def plain_browser(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Chromium whose fontconfig knows only DejaVu (Latin, Greek, Cyrillic): a machine with no CJK font."""
    if not DEJAVU.is_dir():
        pytest.skip(f"needs the DejaVu fonts at {DEJAVU} (apt install fonts-dejavu-core)")
    folder = tmp_path_factory.mktemp("fontconfig")
    conf = folder / "fonts.conf"
    conf.write_text(f'<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
                    f"  <dir>{DEJAVU}</dir>\n  <cachedir>{folder / 'cache'}</cachedir>\n</fontconfig>\n",
                    encoding="utf-8")
    plain = browser.browser_type.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                        env={"FONTCONFIG_FILE": str(conf), "HOME": str(folder)})
    try:
        yield plain
    finally:
        plain.close()


def open_page(plain_browser: Any, size: str, locale: str) -> Any:
    context = plain_browser.new_context(**SIZES[size], locale=locale)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors, page.fonts = [], []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("request", lambda req: page.fonts.append(req.url.split("/fonts/cjk/")[1].split("?")[0])
            if "/fonts/cjk/" in req.url and ".woff2" in req.url else None)
    return page


@pytest.mark.parametrize("size", sorted(SIZES))
def test_names_children_type_are_drawn_with_our_font(plain_browser: Any, live_server: Any, size: str,
                                                     screenshot: Callable[[Any, str], Path]) -> None:
    page = open_page(plain_browser, size, "zh-CN")
    try:
        page.goto(f"{live_server.url}/teach")
        new_teach_project(page, f"表情{size}", ("猫咪", "咧嘴笑"))
        page.evaluate("document.fonts.ready")
        for char in "猫咪咧嘴笑":
            assert slice_of(char) in page.fonts, (char, page.fonts)
        drawn = page.evaluate(GLYPHS, ["咪咧喵嗨噘", FAMILY])
        assert len(set(drawn["system"])) == 1, "the system font draws every one as the same empty box"
        assert len(set(drawn["ours"])) == 5, "our font draws five different characters"
        assert not set(drawn["ours"]) & set(drawn["system"])
        card = page.locator(".class-card", has_text="咧嘴笑")
        assert card.evaluate("(el) => document.fonts.check('16px \"VC Noto Sans SC\"', el.textContent)")
        screenshot(page, f"zh-teach-children-names-{size}")
        assert page.errors == []
    finally:
        page.context.close()


@pytest.mark.parametrize("path", ["/", "/detect", "/video", "/api-docs"])
def test_an_english_page_loads_only_the_slice_of_its_language_switch(plain_browser: Any, live_server: Any,
                                                                    path: str) -> None:
    page = open_page(plain_browser, "laptop", "en-US")
    try:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        assert page.get_attribute("html", "lang") == "en"
        assert set(page.fonts) == {"en.woff2"}, page.fonts
        zh = open_page(plain_browser, "laptop", "zh-CN")
        zh.goto(f"{live_server.url}{path}")
        zh.wait_for_load_state("networkidle")
        assert {"en.woff2", "ui.woff2"} <= set(zh.fonts), zh.fonts
        zh.context.close()
    finally:
        page.context.close()


def test_files_come_compressed_and_hashed_files_from_the_cache(plain_browser: Any, live_server: Any) -> None:
    page = open_page(plain_browser, "laptop", "zh-CN")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    sent: dict[str, str] = {}
    cached: set[str] = set()
    cdp.on("Network.requestWillBeSent", lambda e: sent.__setitem__(e["requestId"], e["request"]["url"]))
    cdp.on("Network.requestServedFromCache", lambda e: cached.add(sent.get(e["requestId"], "")))
    cdp.on("Network.responseReceived",
           lambda e: cached.add(e["response"]["url"]) if e["response"].get("fromDiskCache") else None)
    answers: list[Any] = []
    page.on("response", lambda answer: answers.append(answer))  # noqa: PLW0108 — Playwright wants a function
    try:
        page.goto(f"{live_server.url}/detect")
        page.wait_for_load_state("networkidle")
        kinds = {"document": 0, "script": 0, "stylesheet": 0}
        for answer in answers:
            kind = answer.request.resource_type
            if kind in kinds and answer.status == 200:
                kinds[kind] += 1
                offered = answer.request.all_headers().get("accept-encoding", "")
                wanted = "br" if "br" in offered else "gzip"
                assert answer.headers.get("content-encoding") == wanted, (answer.url, offered, answer.headers)
                if "?v=" in answer.url:
                    assert "immutable" in answer.headers["cache-control"], answer.url
        assert all(kinds.values()), kinds
        hashed = {a.url for a in answers if "?v=" in a.url and a.request.resource_type != "document"}
        assert len(hashed) >= 6
        sent.clear()
        page.goto(f"{live_server.url}/classify")  # the same script, style and font files
        page.wait_for_load_state("networkidle")
        again = {url for url in sent.values() if url in hashed}
        assert again, "the next page uses the same files"
        assert again <= cached, again - cached
        assert page.errors == []
    finally:
        page.context.close()
