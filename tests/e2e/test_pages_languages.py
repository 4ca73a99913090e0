"""Every page in Chinese and in English, at 1366×768 and 390×844, in a real Chromium: the language follows
the browser (Accept-Language) and a remembered switch; the CJK web font served by visioncast is loaded (so
Chinese renders on a device without a Chinese font); no sideways scrolling; the styled 404 with the
navigation; the API reference page built from /openapi.json."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from tests.e2e.conftest import SIZES, open_sized_page

PAGES = ["/", "/classify", "/detect", "/video", "/webcam", "/streams", "/mqtt", "/api-docs", "/no-such-page"]
CJK = re.compile(r"[\u4e00-\u9fff]")
FONT_CHECK = """async () => {
  await document.fonts.load('16px "VC Noto Sans SC"', '开心');
  await document.fonts.ready;
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return document.fonts.check('16px "VC Noto Sans SC"', '开心');
}"""


@pytest.fixture(params=sorted(SIZES))
def zh_page(request: Any, browser: Any) -> Iterator[Any]:
    """A page whose browser asks for Chinese first (as a Chinese phone or PC does), at each size."""
    yield from open_sized_page(browser, request.param, locale="zh-CN")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_speaks_chinese_with_its_own_font(zh_page: Any, live_server: Any, path: str,
                                                    screenshot: Callable[[Any, str], Path]) -> None:
    answer = zh_page.goto(f"{live_server.url}{path}")
    assert answer.status == (404 if path == "/no-such-page" else 200)
    assert zh_page.get_attribute("html", "lang") == "zh-CN"
    assert CJK.search(zh_page.text_content("h1")), zh_page.text_content("h1")
    assert zh_page.text_content(".lang-switch").strip() == "English"
    assert zh_page.evaluate(FONT_CHECK), "the web font served by visioncast draws Chinese"
    font = zh_page.evaluate("[...document.fonts].find((f) => f.family.includes('Noto Sans SC'))?.status")
    assert font == "loaded"
    assert zh_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scroll"
    name = path.strip("/").replace("/", "-") or "index"
    screenshot(zh_page, f"zh-{name}-{zh_page.size_name}")


def test_chinese_laid_out_during_a_slow_font_download_is_drawn_with_the_font(
        zh_page: Any, live_server: Any, screenshot: Callable[[Any, str], Path]) -> None:
    """On a slow classroom Wi-Fi the font arrives after the text is laid out: once it has, the heading looks
    exactly as it does when the font was already there (no empty boxes left behind)."""

    def slow(route: Any) -> None:
        time.sleep(1.5)
        route.continue_()

    zh_page.route("**/*.woff2", slow)
    zh_page.goto(f"{live_server.url}/detect")
    assert zh_page.evaluate(FONT_CHECK)
    slow_heading = zh_page.locator("h1").screenshot()
    zh_page.unroute("**/*.woff2")
    zh_page.reload()  # the font now comes from the cache, before the first layout
    assert zh_page.evaluate(FONT_CHECK)
    assert zh_page.locator("h1").screenshot() == slow_heading
    screenshot(zh_page, f"zh-detect-slow-font-{zh_page.size_name}")


def test_the_switch_is_remembered_across_pages(zh_page: Any, live_server: Any) -> None:
    zh_page.goto(f"{live_server.url}/detect")
    assert zh_page.text_content("h1") == "物体检测"
    zh_page.click(".lang-switch")
    zh_page.wait_for_url("**lang=en")
    assert zh_page.text_content("h1") == "Detect objects"
    assert zh_page.get_attribute("html", "lang") == "en"
    zh_page.goto(f"{live_server.url}/classify")  # no ?lang: the cookie remembers
    assert zh_page.text_content("h1") == "Classify an image"
    assert zh_page.text_content(".lang-switch").strip() == "中文"


def test_script_messages_follow_the_page_language(zh_page: Any, live_server: Any, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture", encoding="utf-8")
    zh_page.goto(f"{live_server.url}/classify")
    zh_page.set_input_files("#file", str(notes))
    zh_page.click("#submit")
    error = zh_page.wait_for_selector("#error:not([hidden])")
    assert error.inner_text().startswith("这个文件不是服务器能读的图片。请选择")
    assert error.evaluate("e => getComputedStyle(e, '::before').content") == '"错误："'
    assert "b'" not in error.inner_text()
    assert "bytes" not in error.inner_text()


def test_a_mistyped_address_gets_the_404_page_and_the_api_gets_json(
        page: Any, live_server: Any, screenshot: Callable[[Any, str], Path]) -> None:
    answer = page.goto(f"{live_server.url}/detcet")
    assert answer.status == 404
    assert page.text_content("h1") == "Page not found"
    assert page.locator("header nav a[href='/detect']").count() == 1
    assert page.locator("main a[href='/']").count() == 1
    screenshot(page, "not-found-desktop")
    api = requests.get(f"{live_server.url}/api/v1/detcet", timeout=10)
    assert api.status_code == 404
    assert api.json()["error"] == "not_found"


def test_the_api_link_opens_a_readable_reference(zh_page: Any, live_server: Any,
                                                 screenshot: Callable[[Any, str], Path]) -> None:
    zh_page.goto(f"{live_server.url}/")
    if zh_page.size_name == "phone":  # on a phone the navigation opens from the Menu button
        zh_page.click("#menu-button")
    zh_page.click("header nav a[href='/api-docs']")
    zh_page.wait_for_selector("body[data-state=done]")
    spec = requests.get(f"{live_server.url}/openapi.json", timeout=10).json()
    operations = sum(1 for methods in spec["paths"].values() for op in methods.values()
                     if isinstance(op, dict) and "responses" in op)
    assert zh_page.locator("#api-ops section:not(#schemas) > details").count() == operations
    zh_page.click("#op-post--api-v1-detect summary")
    body = zh_page.text_content("#op-post--api-v1-detect")
    assert "conf" in body
    assert "415" in body
    assert zh_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(zh_page, f"api-docs-{zh_page.size_name}")
