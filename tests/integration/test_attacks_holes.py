"""Issue 27, "Smaller holes", played from this machine's LAN address against a live server (another student
is played from 127.0.0.1, which a LAN server treats as one more student). Each failed before the fix:
previews of another's video were served, a shared Idempotency-Key handed over another's job, ``next``
redirected off-site, a signed-out cookie still opened teacher pages, ``--token 1`` was accepted and wrong
tokens were not throttled.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from tests.integration.attack_server import LAN, TEACHER, TIMEOUT_S, TOKEN, Live, live_server, refused
from tests.integration.test_attacks import tiny_video, upload

from visioncast import config
from visioncast.errors import ConfigError

pytestmark = pytest.mark.skipif(LAN.startswith("127."), reason="this machine has no non-loopback address")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(tmp_path_factory.mktemp("holes")) as server:
        yield server


def finished_job(live: Live, base: str, tmp_path: Path) -> str:
    """A video job of the client at ``base``, detected to the end."""
    job = upload(base, "mine.avi", tiny_video(tmp_path / "mine.avi", frames=4))
    assert job.status_code == 201, job.text[:200]
    job_id = job.json()["id"]
    deadline = time.monotonic() + 3 * TIMEOUT_S
    while time.monotonic() < deadline:
        state = requests.get(f"{base}/api/v1/videos/{job_id}", timeout=TIMEOUT_S).json()["state"]
        if state in ("done", "failed"):
            break
        time.sleep(0.1)
    assert state == "done"
    return str(job_id)


def test_previews_of_another_students_video_are_404(live: Live, tmp_path: Path) -> None:
    job_id = finished_job(live, live.local, tmp_path)  # the other student's upload
    mine = f"{live.local}/api/v1/videos/{job_id}"
    assert requests.get(f"{mine}/frames/0.jpg", timeout=TIMEOUT_S).status_code == 200  # the owner's own
    theirs = f"{live.lan}/api/v1/videos/{job_id}"
    refused(requests.get(f"{theirs}/frames/0.jpg", timeout=TIMEOUT_S), 404)  # before: 200, their frame
    refused(requests.post(f"{theirs}/render-webm", timeout=TIMEOUT_S), 404)  # before: 202
    refused(requests.get(f"{theirs}/video.webm", timeout=TIMEOUT_S), 404)  # before: 409 (it exists)


def test_an_idempotency_key_replays_only_the_same_clients_answer(live: Live, tmp_path: Path) -> None:
    clip = tiny_video(tmp_path / "clip.avi")
    key = {"Idempotency-Key": "press-1"}
    first = upload(live.local, "a.avi", clip, headers=key)
    assert first.status_code == 201
    again = upload(live.local, "a.avi", clip, headers=key)
    assert again.json()["id"] == first.json()["id"]  # a double click still starts one job
    other = upload(live.lan, "b.avi", clip, headers=key)
    assert other.status_code == 201
    assert "Idempotent-Replayed" not in other.headers
    assert other.json()["id"] != first.json()["id"]  # before: the other student got this job's id


@pytest.mark.parametrize("next_path", ["/%09/evil.example", "/%0a/evil.example", "/%0d%0a/evil.example",
                                       "//evil.example", "/\\evil.example", "https://evil.example"])
def test_signin_never_sends_the_browser_off_site(live: Live, next_path: str) -> None:
    answer = requests.get(f"{live.lan}/signin?token={TOKEN}&next={next_path}", timeout=TIMEOUT_S)
    assert answer.status_code == 200
    assert 'content="0; url=/"' in answer.text  # before: url=/\t/evil.example, which browsers read as //


def test_a_signed_out_cookie_opens_nothing(live: Live) -> None:
    browser = requests.Session()
    assert browser.get(f"{live.lan}/signin?token={TOKEN}", timeout=TIMEOUT_S).status_code == 200
    cookie = browser.cookies.get("visioncast_session")
    assert cookie
    assert browser.get(f"{live.lan}/api/v1/mqtt", timeout=TIMEOUT_S).status_code == 200
    origin = {"Origin": live.lan}
    assert browser.post(f"{live.lan}/signout", headers=origin, timeout=TIMEOUT_S).status_code == 200
    stolen = requests.get(f"{live.lan}/api/v1/mqtt", cookies={"visioncast_session": cookie},
                          timeout=TIMEOUT_S)
    refused(stolen, 401, "teacher_only")  # before: the HMAC of the token, valid until the token changed


def test_a_short_token_is_refused_by_the_config(tmp_path: Path) -> None:
    for weak in ("1", "password", " spaces-around-token-value "):  # before: accepted as the teacher's key
        with pytest.raises(ConfigError, match=r"server\.token"):
            config.load(env={}, overrides={"data_dir": str(tmp_path), "server.token": weak})


def test_wrong_tokens_are_throttled_per_address(live: Live) -> None:
    for _ in range(5):
        wrong = requests.get(f"{live.lan}/api/v1/mqtt", headers={"Authorization": "Bearer guess-guess-guess"},
                             timeout=TIMEOUT_S)
        refused(wrong, 401, "teacher_only")
    # the sixth try, even the right token, waits out the window (before: 401 / 200 for ever)
    right = requests.get(f"{live.lan}/api/v1/mqtt", headers=TEACHER, timeout=TIMEOUT_S)
    refused(right, 429, "too_many_tries")
    signin = requests.get(f"{live.lan}/signin?token=another-guess-here", timeout=TIMEOUT_S)
    assert signin.status_code == 429
    assert requests.get(f"{live.local}/api/v1/mqtt", headers=TEACHER, timeout=TIMEOUT_S).status_code == 200
