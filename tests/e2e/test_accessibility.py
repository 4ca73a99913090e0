"""axe-core (tests/e2e/vendor/axe.min.js) on every page and its main states at phone size (390×844, touch),
in both languages: no serious and no critical violation. The pages send a strict CSP (no inline script), so
the context bypasses it for the injected axe script only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import requests
from tests.e2e.conftest import SIZES, open_sized_page

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PAGES = ["/", "/classify", "/detect", "/webcam", "/video", "/teach", "/mqtt", "/streams", "/api-docs",
         "/signin", "/no-such-page"]
RUN_AXE = """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
  .filter((v) => v.impact === "serious" || v.impact === "critical")
  .map((v) => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
                why: v.nodes[0].failureSummary}))"""


def serious(page: Any) -> list[dict[str, Any]]:
    """The serious and critical axe violations of the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return found


def assert_clean(page: Any, state: str) -> None:
    found = serious(page)
    assert found == [], f"{state}: {json.dumps(found, ensure_ascii=False, indent=1)}"


@pytest.fixture(params=["zh", "en"])
def phone(request: pytest.FixtureRequest, browser: Any) -> Iterator[Any]:
    """A phone page (390×844) whose language is ``page.lang``."""
    for page in open_sized_page(browser, "phone", bypass_csp=True, locale="zh-CN" if request.param == "zh"
                                else "en-US"):
        page.lang = request.param
        yield page


def visit(page: Any, url: str) -> None:
    sep = "&" if "?" in url else "?"
    page.goto(f"{url}{sep}lang={page.lang}")
    page.wait_for_load_state("networkidle")


def test_every_page_as_it_opens(phone: Any, live_server: Any) -> None:
    for path in PAGES:
        visit(phone, f"{live_server.url}{path}")
        assert_clean(phone, f"{path} ({phone.lang})")


def test_detect_and_classify_with_a_result_and_with_an_error(phone: Any, live_server: Any, data_dir: Path,
                                                              tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture\n", encoding="utf-8")
    for path, image in (("/detect", "bus.jpg"), ("/classify", "cifar10")):
        visit(phone, f"{live_server.url}{path}")
        picture = next((data_dir / image).glob("*.png")) if image == "cifar10" else data_dir / image
        for chosen, state in ((picture, "done"), (notes, "error")):
            phone.set_input_files("#file", str(chosen))
            phone.click("#submit")
            phone.wait_for_selector(f"body[data-state={state}]")
            assert_clean(phone, f"{path} {state} ({phone.lang})")


def test_video_playing_done_and_listed(phone: Any, live_server: Any, data_dir: Path) -> None:
    visit(phone, f"{live_server.url}/video")
    phone.set_input_files("#file", str(data_dir / "vtest_clip.mp4"))
    phone.click("#upload")
    phone.wait_for_function("() => Number(document.getElementById('view').dataset.frame) >= 1")
    assert_clean(phone, f"/video playing ({phone.lang})")
    phone.wait_for_function("() => document.getElementById('job-state').dataset.state === 'done'")
    phone.wait_for_selector("#webm-item:not([hidden])")
    assert_clean(phone, f"/video done ({phone.lang})")
    visit(phone, f"{live_server.url}/video")
    phone.wait_for_selector("#recent-jobs tr")
    assert_clean(phone, f"/video recent list ({phone.lang})")


def test_teach_with_classes_and_trained(phone: Any, live_server: Any, bus_photos: list[str],
                                        player_photos: list[str]) -> None:
    visit(phone, f"{live_server.url}/teach")
    phone.fill("#project-name", f"axe-{phone.lang}")
    phone.click("#create-project")
    phone.wait_for_selector("#workspace:not([hidden])")
    for label, photos in (("猫咪", bus_photos), ("dog", player_photos)):
        phone.fill("#class-name", label)
        phone.click("#class-form button[type=submit]")
        card = phone.locator(".class-card", has_text=label)
        card.locator("input[type=file][multiple]").set_input_files(photos)
        phone.wait_for_function(
            "name => [...document.querySelectorAll('.class-card')].some(c => c.textContent.includes(name)"
            " && parseInt(c.querySelector('.class-count').textContent) === 8)", arg=label)
    assert_clean(phone, f"/teach with classes ({phone.lang})")
    phone.click("#train")
    phone.wait_for_selector("#report:not([hidden])")
    assert_clean(phone, f"/teach trained ({phone.lang})")


def test_mqtt_with_each_policy_and_api_docs_opened(phone: Any, live_server: Any) -> None:
    visit(phone, f"{live_server.url}/mqtt")
    policies = phone.eval_on_selector_all("select option",
                                          "(os) => os.map((o) => [o.parentElement.id, o.value])")
    for select, value in policies:
        phone.select_option(f"#{select}", value)
        assert_clean(phone, f"/mqtt {select}={value} ({phone.lang})")
    visit(phone, f"{live_server.url}/api-docs")
    phone.locator("details summary").first.click()
    assert_clean(phone, f"/api-docs opened ({phone.lang})")


def test_streams_list_and_dashboard_with_a_running_stream(phone: Any, live_server: Any,
                                                          data_dir: Path) -> None:
    body = {"source": str(data_dir / "vtest_clip.avi"), "lines": ["0,150,576,150:door"]}
    started = requests.post(f"{live_server.url}/api/v1/streams", timeout=10, json=body)
    assert started.status_code == 201, started.text
    sid = started.json()["id"]
    try:
        visit(phone, f"{live_server.url}/streams")
        phone.wait_for_selector(f"#streams a[href$='{sid}']")
        assert_clean(phone, f"/streams with a stream ({phone.lang})")
        phone.goto(f"{live_server.url}/streams/{sid}?lang={phone.lang}")
        phone.wait_for_function("() => /^\\d+$/.test(document.getElementById('frame').textContent)")
        assert_clean(phone, f"/streams/<id> running ({phone.lang})")
    finally:
        requests.delete(f"{live_server.url}/api/v1/streams/{sid}", timeout=10)


def test_webcam_running_and_denied(camera_browser: Any, live_server: Any) -> None:
    for lang in ("zh", "en"):
        for allowed in (True, False):
            size = cast("dict[str, Any]", SIZES["phone"])
            ctx = camera_browser.new_context(**size, bypass_csp=True)
            ctx.set_default_timeout(10_000)
            if allowed:
                ctx.grant_permissions(["camera"], origin=live_server.url)
            page = ctx.new_page()
            try:
                page.goto(f"{live_server.url}/webcam?lang={lang}")
                page.click("#start")
                if allowed:
                    page.wait_for_function("() => Number(document.getElementById('view').dataset.frames) > 2")
                else:
                    page.wait_for_selector("#error:not([hidden])")
                assert_clean(page, f"/webcam {'running' if allowed else 'denied'} ({lang})")
            finally:
                ctx.close()
