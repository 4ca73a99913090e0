"""Teacher sign-in and the pages' Content-Security-Policy in a real browser, on a server configured for the
LAN (so the browser, on loopback, is a student until it signs in); an uploaded ``clip.html`` never runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import requests

from visioncast import config
from visioncast.server.app import create_app
from visioncast.server.auth.core import COOKIE
from visioncast.server.wsgi import HttpServer

TOKEN = "e2e-teacher-token"
PAGES = ("/", "/detect", "/classify", "/video", "/webcam", "/streams", "/signin")


@pytest.fixture(scope="module")
def lan_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("signin")
    overrides = {"data_dir": str(data), "mqtt.enabled": False, "broker.enabled": False,
                 "server.host": "0.0.0.0", "server.token": TOKEN}
    app = create_app(config.load(env={}, overrides=overrides))
    server = HttpServer(app, "127.0.0.1", 0, workers=6).start_in_thread()  # tests listen on loopback only
    try:
        yield server.url
    finally:
        server.stop()
        app.extensions["visioncast"].close()


def watch_csp(page: Any) -> list[str]:
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text
            else None)
    return violations


def test_a_teacher_page_asks_a_student_to_sign_in_then_opens(page: Any, lan_server: str) -> None:
    page.goto(f"{lan_server}/mqtt")
    assert page.text_content("main h1") == "Teacher sign-in"
    assert "Teacher only — sign in" in page.text_content("main")
    assert page.locator("#mqtt-form").count() == 0
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{lan_server}/mqtt")
    page.wait_for_selector("#mqtt-form")
    assert page.text_content(".nav-role") == "Teacher"


def test_the_sign_in_link_leaves_no_token_in_the_address_bar(page: Any, lan_server: str) -> None:
    page.goto(f"{lan_server}/signin?token={TOKEN}&next=/streams")
    page.wait_for_url(f"{lan_server}/streams")
    assert TOKEN not in page.url
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert TOKEN not in cookie["value"]


def test_every_page_runs_under_its_content_security_policy(page: Any, lan_server: str) -> None:
    violations = watch_csp(page)
    for path in PAGES:
        answer = page.goto(f"{lan_server}{path}")
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
    page.goto(f"{lan_server}/signin?token={TOKEN}&next=/mqtt")
    page.wait_for_selector("#mqtt-form")
    page.wait_for_load_state("networkidle")
    assert violations == []


def test_an_uploaded_html_file_is_downloaded_never_run(page: Any, lan_server: str, tmp_path: Path) -> None:
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for i in range(3):
        writer.write(np.full((48, 64, 3), 60 * i, np.uint8))
    writer.release()
    payload = clip.read_bytes() + b"<script>document.title='pwned';alert(1)</script>"
    page.goto(f"{lan_server}/video")  # the browser's address: the job belongs to it
    job = requests.post(f"{lan_server}/api/v1/videos", files={"video": ("clip.html", payload)}, timeout=10)
    assert job.status_code == 201, job.text
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    source = f"{lan_server}/api/v1/videos/{job.json()['id']}/source"
    starting = re.escape("Download is starting")
    with page.expect_download() as download, pytest.raises(Exception, match=starting):
        page.goto(source)
    assert download.value.suggested_filename == "clip.avi"
    assert dialogs == []
    assert page.title() != "pwned"
