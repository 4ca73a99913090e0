"""The index page in a real Chromium: it says what visioncast does, links every page of the navigation and the
OpenAPI document, explains pushing to a board, and every link it shows answers."""

from __future__ import annotations

import requests


def test_index_links_every_page_and_the_api_docs(page, live_server, screenshot):
    page.goto(f"{live_server.url}/")
    assert page.title() == "Home · visioncast"
    nav = page.eval_on_selector_all("header nav a", "links => links.map((a) => a.getAttribute('href'))")
    cards = page.eval_on_selector_all(".cards a", "links => links.map((a) => a.getAttribute('href'))")
    assert {"/classify", "/detect"} <= set(cards)
    assert nav == [*cards, "/api-docs"], "the index lists exactly the pages of the navigation"
    assert page.locator("main a[href='/api-docs']").count() == 1
    assert page.locator("main a[href='/openapi.json']").count() == 1
    assert "MQTT" in page.text_content("#board-heading + p")
    for href in nav:
        answer = requests.get(f"{live_server.url}{href}", timeout=10)
        assert answer.status_code == 200, href
    screenshot(page, "index-desktop")


def test_nav_marks_the_current_page_and_is_keyboard_reachable(phone_page, live_server, screenshot):
    page = phone_page
    page.goto(f"{live_server.url}/detect")
    assert page.get_attribute("header nav a[href='/detect']", "aria-current") == "page"
    assert page.get_attribute("header nav a[href='/classify']", "aria-current") is None
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto(f"{live_server.url}/")
    screenshot(page, "index-phone")
