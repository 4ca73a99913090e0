"""The video page in headless Chromium against the real server: upload with progress, boxes drawn on the
frames as results stream in, pause/play, Save disabled until every frame is detected, the WebM (made while
the job ran) saved first and the AVI on request, both checked with OpenCV, waiting for results when playback
outruns detection, reload re-attach, bad files, the recent list on a phone."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import requests
from tests.e2e.conftest import ANIMATION_FRAMES
from tests.serve_process import repeated, wait_until

from visioncast.draw import palette
from visioncast.sources.video import open_video

CLIP = "vtest_clip.mp4"
CLIP_FRAMES = 36
PERSON_RGB = palette(0)[::-1]  # the box colour of class 0, person: the same on the page and in server images
# Records every change of the Save button with the job state shown at that moment.
WATCH_SAVE = """
window.__saveLog = [];
document.addEventListener("DOMContentLoaded", () => {
  const save = document.getElementById("save");
  new MutationObserver(() => window.__saveLog.push(
      {disabled: save.disabled, state: document.getElementById("job-state").dataset.state}))
    .observe(save, {attributes: true, attributeFilter: ["disabled"]});
});
"""
COUNT_PERSON_PIXELS = """([r, g, b]) => {
  const canvas = document.getElementById("view");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (Math.abs(data[i] - r) < 12 && Math.abs(data[i + 1] - g) < 12 && Math.abs(data[i + 2] - b) < 12) n++;
  }
  return n;
}"""


def view(page: Any) -> dict[str, Any]:
    return page.evaluate("""() => { const v = document.getElementById("view");
      return {frame: Number(v.dataset.frame), boxes: Number(v.dataset.boxes), ahead: Number(v.dataset.ahead),
              waits: Number(v.dataset.waits)}; }""")


def upload(page: Any, url: str, path: Path) -> None:
    page.goto(f"{url}/video")
    page.set_input_files("#file", str(path))
    page.click("#upload")


def test_upload_play_pause_and_save_for_a_phone_then_as_avi(page: Any, live_server: Any, data_dir: Path,
                                                           tmp_path: Path,
                                                           screenshot: Callable[[Any, str], Path]) -> None:
    page.add_init_script(WATCH_SAVE)
    upload(page, live_server.url, data_dir / CLIP)
    page.wait_for_function("() => document.getElementById('upload-progress').value === 1")
    assert int(page.get_attribute("#upload-progress", "data-events")) >= 1
    page.wait_for_function("() => Number(document.getElementById('view').dataset.frame) >= 3")
    assert "job=" in page.url
    now = view(page)
    assert now["boxes"] > 0
    assert page.evaluate(COUNT_PERSON_PIXELS, list(PERSON_RGB)) > 100  # person boxes drawn on the frame
    screenshot(page, "video-playing")

    page.click("#pause")
    page.wait_for_function("() => document.getElementById('video').paused && !document.getElementById('play')"
                           ".disabled")
    page.evaluate(ANIMATION_FRAMES, 10)  # a frame already on its way lands
    paused_at = view(page)["frame"]
    page.evaluate(ANIMATION_FRAMES, 30)  # the drawing loop turned 30 times: a playing video would move
    assert view(page)["frame"] == paused_at
    assert page.is_enabled("#play")
    page.click("#play")
    page.wait_for_function(f"() => Number(document.getElementById('view').dataset.frame) > {paused_at}")

    page.wait_for_function("() => !document.getElementById('save').disabled")
    assert page.get_attribute("#job-state", "data-state") == "done"
    assert all(entry["disabled"] or entry["state"] == "done" for entry in page.evaluate("window.__saveLog"))
    page.wait_for_selector("#webm-item:not([hidden])")  # made while the job ran: offered when it ends
    assert page.is_hidden("#avi-item")
    with page.expect_download() as download:  # the first thing saved: the WebM a phone plays
        page.click("#save")
    webm = tmp_path / "saved.webm"
    download.value.save_as(webm)
    assert download.value.suggested_filename == "vtest_clip-detected.webm"
    assert view(page)["ahead"] == 0
    check_avi(webm, data_dir / CLIP)
    page.wait_for_function("() => document.getElementById('download-webm-size').textContent.endsWith('B')")
    with page.expect_download() as download:  # the seed's AVI, on request
        page.click("#save-avi")
    avi = tmp_path / "saved.avi"
    download.value.save_as(avi)
    assert download.value.suggested_filename == "vtest_clip-detected.avi"
    check_avi(avi, data_dir / CLIP)
    page.wait_for_selector("#avi-item:not([hidden])")
    order = page.evaluate("[...document.querySelectorAll('#downloads li')].map((li) => li.id)")
    assert order == ["webm-item", "avi-item"]
    assert page.evaluate("document.getElementById('render-progress').value") == 1
    screenshot(page, "video-saved")


def check_avi(avi: Path, source: Path) -> None:
    """Same frame count as the source, and boxes visible: every frame differs clearly from the raw one."""
    with open_video(source) as video:
        raw = [frame.image for frame in video]
    cap = cv2.VideoCapture(str(avi))
    saved = []
    while (item := cap.read())[0]:
        saved.append(item[1])
    cap.release()
    assert len(saved) == len(raw) == CLIP_FRAMES
    for drawn, original in zip(saved, raw, strict=True):
        changed = np.abs(drawn.astype(int) - original.astype(int)).max(axis=2) > 60
        assert changed.sum() > 300  # box outlines and labels, far above JPEG noise


def fast_clip(path: Path, source: Path, fps: float, repeat: int = 1) -> Path:
    """The clip's frames (``repeat`` times over) at a frame rate far above detection speed, so playback must
    wait for results."""
    with open_video(source) as video:
        frames = [frame.image for frame in video]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"vp09"), fps, frames[0].shape[1::-1])
    for image in frames * repeat:
        writer.write(image)
    writer.release()
    return path


def test_playback_waits_for_results_and_is_never_ahead(page: Any, live_server: Any, data_dir: Path,
                                                       tmp_path: Path) -> None:
    # 280 frames at 240 fps: detection (≈ 180 frames/s at best here) must last well beyond the moment the
    # player starts, even on a quiet machine, or the job is done before there is anything to wait for
    upload(page, live_server.url, fast_clip(tmp_path / "fast.mp4", data_dir / CLIP, 240.0, repeat=4))
    page.wait_for_function("() => document.getElementById('job-state').dataset.state === 'done'",
                           timeout=30_000)  # 280 frames: on a loaded 2-core machine more than 10 s
    page.wait_for_function("() => Number(document.getElementById('view').dataset.frame) >= 30")
    state = view(page)
    assert state["waits"] >= 1  # the player caught up with detection and waited
    assert state["ahead"] == 0  # and never drew a frame before its result had arrived


HELD_OR_COPY = """(turns) => Number(document.getElementById('view').dataset.held || 0) >= turns
    || document.getElementById('view').dataset.playing === 'copy'"""
PICTURE_SPREAD = """() => {
  const canvas = document.getElementById("view");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const grey = new Set();
  for (let i = 0; i < data.length; i += 4 * 97) grey.add(data[i] >> 3);
  return grey.size;
}"""


def test_an_avi_the_browser_cannot_play_is_shown_from_a_webm_copy(
        page: Any, live_server: Any, data_dir: Path, screenshot: Callable[[Any, str], Path]) -> None:
    """Chromium plays no AVI (MPEG-4 Part 2): the page asks for the server's WebM copy and plays that."""
    upload(page, live_server.url, data_dir / "vtest_clip.avi")
    page.wait_for_function("() => document.getElementById('view').dataset.playing === 'copy'", timeout=30_000)
    page.wait_for_function("() => Number(document.getElementById('view').dataset.frame) >= 12",
                           timeout=30_000)
    assert page.evaluate("document.getElementById('video').error") is None
    assert page.evaluate(PICTURE_SPREAD) > 12  # the street of vtest, not the flat grey of the blank frame
    assert page.evaluate(COUNT_PERSON_PIXELS, list(PERSON_RGB)) > 100
    assert view(page)["ahead"] == 0
    screenshot(page, "video-avi-webm-copy")


def count_colour(page: Any, rgb: tuple[int, ...], tolerance: int) -> int:
    return page.evaluate(COUNT_PERSON_PIXELS.replace("< 12", f"< {tolerance}"), list(rgb))


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_an_avi_shows_server_drawn_frames_within_seconds_with_pause_and_play(
        request: Any, live_server: Any, data_dir: Path, size: str,
        screenshot: Callable[[Any, str], Path]) -> None:
    """While the WebM copy is made, the page shows each frame as the server draws it, boxes included."""
    tab = request.getfixturevalue("page" if size == "desktop" else "phone_page")
    upload(tab, live_server.url, data_dir / "vtest_clip.avi")
    tab.wait_for_function("() => document.getElementById('view').dataset.playing === 'preview' && "
                          "Number(document.getElementById('view').dataset.frame) >= 1", timeout=5_000)
    assert tab.evaluate(PICTURE_SPREAD) > 12, "the street of vtest, not a black or blank frame"
    assert count_colour(tab, PERSON_RGB, 40) > 30, "the server drew the person boxes in the page's colour"
    assert view(tab)["ahead"] == 0
    assert tab.text_content("#player-status").startswith("This browser cannot play this video format")
    screenshot(tab, f"video-avi-preview-{size}")
    tab.click("#pause")
    held = tab.evaluate("() => Number(document.getElementById('view').dataset.held || 0)")
    tab.wait_for_function(HELD_OR_COPY, arg=held + 1)  # the loop saw the pause: a frame on its way landed
    paused_at = view(tab)["frame"]
    tab.wait_for_function(HELD_OR_COPY, arg=held + 4)  # three more turns on hold, nothing drawn
    assert view(tab)["frame"] == paused_at  # the WebM copy, if it took over, starts at the frame on screen
    tab.click("#play")
    tab.wait_for_function(f"() => Number(document.getElementById('view').dataset.frame) > {paused_at}")
    box = tab.locator("#view").bounding_box()
    viewport = tab.viewport_size
    assert box["width"] <= viewport["width"]
    controls = tab.locator("#pause").bounding_box()
    bottom = controls["y"] + controls["height"]
    assert bottom - box["y"] <= viewport["height"], "the view and its controls fit one screen"


def test_reload_reattaches_to_the_job(page: Any, live_server: Any, data_dir: Path) -> None:
    upload(page, live_server.url, data_dir / CLIP)
    # the job may queue behind the earlier tests' jobs (their WebMs are written as they run): wait longer
    page.wait_for_function("() => Number(document.getElementById('view').dataset.frame) >= 1", timeout=30_000)
    job_url = page.url
    page.reload()
    assert page.url == job_url
    page.wait_for_function("() => Number(document.getElementById('view').dataset.frame) >= 1", timeout=30_000)
    assert page.is_visible("#player")
    assert "vtest_clip.mp4" in page.text_content("#job-name")


@pytest.mark.parametrize(("name", "make", "words"), [
    ("notes.mp4", lambda clip: b"this is text, not a video\n" * 40, "This file is not a video"),
    ("cut.mp4", lambda clip: clip[: len(clip) // 3], "This video is damaged"),
])
def test_bad_files_show_a_clear_error(page: Any, live_server: Any, data_dir: Path, tmp_path: Path, *,
                                      name: str, make: Callable[[bytes], bytes], words: str,
                                      screenshot: Callable[[Any, str], Path]) -> None:
    path = tmp_path / name
    path.write_bytes(make((data_dir / CLIP).read_bytes()))
    upload(page, live_server.url, path)
    page.wait_for_selector("#error:not([hidden])")
    message = page.text_content("#error")
    assert words in message
    assert name in message
    assert page.is_hidden("#player")
    screenshot(page, f"video-error-{Path(name).stem}")


def test_unknown_job_in_the_url_is_explained(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/video?job=0123456789abcdef")
    page.wait_for_selector("#error:not([hidden])")
    assert "does not exist" in page.text_content("#error")
    assert "job=" not in page.url


def test_video_page_fits_a_phone(phone_page: Any, live_server: Any, data_dir: Path,
                                 screenshot: Callable[[Any, str], Path]) -> None:
    upload(phone_page, live_server.url, data_dir / CLIP)
    phone_page.wait_for_function("() => Number(document.getElementById('view').dataset.frame) >= 1")
    assert phone_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    box = phone_page.locator("#save").bounding_box()
    assert box is not None
    assert box["height"] >= 44  # a thumb-sized target
    screenshot(phone_page, "video-phone")


def test_the_recent_list_never_scrolls_a_phone_sideways(phone_page: Any, live_server: Any, data_dir: Path,
                                                       screenshot: Callable[[Any, str], Path]) -> None:
    """Three recent jobs with long names, saved in both formats: the page stays 390 px wide."""
    upload(phone_page, live_server.url, data_dir / CLIP)
    phone_page.wait_for_function("() => document.getElementById('job-state').dataset.state === 'done'")
    job_id = phone_page.evaluate("new URL(location.href).searchParams.get('job')")
    render = f"{live_server.url}/api/v1/videos/{job_id}/render"
    wait_until(lambda: requests.post(render, timeout=10).json()["state"] == "done", "the AVI render")
    names = ["课堂实验：小车从斜面上滑下来的整个过程.mp4", "a-rather-long-classroom-recording-name.mp4", CLIP]
    phone_page.evaluate("""([id, names]) => localStorage.setItem("visioncast.video.recent",
      JSON.stringify(names.map((name) => ({id, name, created: 0, task: "detect"}))))""", [job_id, names])
    phone_page.goto(f"{live_server.url}/video")
    phone_page.wait_for_function("() => document.querySelectorAll('#recent-jobs tr').length === 3")
    phone_page.wait_for_function("() => [...document.querySelectorAll('#recent-jobs tr')].every((tr) =>"
                                 " tr.querySelectorAll('a[download]').length === 2)")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    assert phone_page.evaluate("document.getElementById('recent').scrollWidth") <= \
        phone_page.evaluate("document.getElementById('recent').clientWidth")
    links = phone_page.evaluate("[...document.querySelectorAll('#recent-jobs tr:first-child a[download]')]"
                                ".map((a) => a.textContent)")
    assert links[0].startswith("WebM")  # the file a phone plays comes first
    phone_page.locator("#recent").scroll_into_view_if_needed()
    screenshot(phone_page, "video-recent-phone")


def test_one_job_per_press_and_the_recent_jobs_list(page: Any, live_server: Any, data_dir: Path,
                                                    api_log: Callable[[Any], list[Any]],
                                                    screenshot: Callable[[Any, str], Path]) -> None:
    """A double press uploads once; the same file cannot start a second job while its job runs; the job is
    listed under 'Your recent videos' after the page is closed and opened again (no ?job= in the URL)."""
    page.goto(f"{live_server.url}/video")
    page.set_input_files("#file", str(data_dir / CLIP))
    calls = api_log(page)
    with page.expect_response("**/api/v1/videos?**") as answer:
        page.dblclick("#upload")
    job = answer.value.json()
    assert answer.value.request.header_value("Idempotency-Key")
    page.wait_for_function("() => Number(document.getElementById('view').dataset.frame) >= 1")
    assert [c for c in calls if c[0] == "POST" and "/api/v1/videos?" in c[1]] == [calls[0]]
    if page.get_attribute("#job-state", "data-state") != "done":
        assert page.is_disabled("#upload"), "the same file cannot start a second job while the first runs"
    page.goto(f"{live_server.url}/video")
    row = page.locator(f"#recent-jobs tr[data-job='{job['id']}']")
    row.wait_for()
    assert CLIP in row.text_content()
    page.wait_for_function(f"() => document.querySelector(\"#recent-jobs tr[data-job='{job['id']}']\")"
                           ".dataset.state === 'done'")
    screenshot(page, "video-recent-jobs")
    row.locator("a").first.click()
    page.wait_for_function("() => Number(document.getElementById('view').dataset.frame) >= 1")
    assert f"job={job['id']}" in page.url
    page.goto(f"{live_server.url}/video")
    page.locator(f"#recent-jobs tr[data-job='{job['id']}'] button").click()
    page.locator(f"#recent-jobs tr[data-job='{job['id']}']").wait_for(state="detached")
def job_state(page: Any) -> str:
    return str(page.get_attribute("#job-state", "data-state"))


@pytest.mark.timeout(240)  # three server starts, each loading the models
def test_the_page_follows_its_job_across_server_kills(page: Any, data_dir: Path, tmp_path: Path,
                                                      serve: Callable[..., Any]) -> None:
    """A ``visioncast serve`` killed with SIGKILL and started again: the page re-attaches and the job goes on
    to the end; a job the restarted server no longer has is explained, not shown as reconnecting forever."""
    video = repeated(data_dir / CLIP, 3, tmp_path / "long.mp4", "vp09")
    root = tmp_path / "visioncast" / "videos"
    first = serve()
    try:
        upload(page, first.url, video)
        page.wait_for_function("() => Number(document.getElementById('view').dataset.frame) >= 3")
    finally:
        first.kill()
    page.wait_for_function(
        "() => document.getElementById('player-status').textContent.includes('reconnecting')")
    second = serve(port=first.port)
    try:
        wait_until(lambda: job_state(page) == "done", "the job after the restart",
                   lambda: page.text_content("#detect-text"))
        assert page.text_content("#detect-text") == f"{3 * CLIP_FRAMES} of {3 * CLIP_FRAMES} frames"
        assert page.is_hidden("#error")
        done_id = page.url.split("job=")[1]
        upload(page, second.url, video)  # the page re-attaches to the done job first, then uploads
        page.wait_for_function("() => document.getElementById('upload-progress').value === 1")
        page.wait_for_function(f"() => !location.search.includes('{done_id}')")
        page.wait_for_function("() => Number(document.getElementById('view').dataset.frame) >= 1")
        job_id = page.url.split("job=")[1]
    finally:
        second.kill()
    shutil.rmtree(root / job_id)  # the next server has no such job (as after it expired)
    third = serve(port=first.port)
    try:
        page.wait_for_selector("#error:not([hidden])")
        assert "does not exist" in page.text_content("#error")
        assert job_state(page) == "gone"
    finally:
        third.stop()
