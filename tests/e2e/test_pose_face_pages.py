"""Pose and face on the pages, in headless Chromium against real servers: the "Find" switch of the detect page
draws skeletons and landmarks in the server's colours and says what it found, in English and in Chinese, at
1366×768 and 390×844; the webcam page in face mode moves the fan example's servo through a real broker and in
pose mode finds every person (and asks a one-person MoveNet to follow); the video page sends the task with
the upload and draws landmarks."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, SIZES, open_sized_page

from mqtt_peers import Subscriber, free_port, mosquitto
from visioncast import config
from visioncast.config import MqttConfig
from visioncast.draw import KEYPOINT_MIN_SCORE, MIDDLE
from visioncast.server.app import create_app
from visioncast.server.push.routes import attach
from visioncast.server.wsgi import HttpServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WAIT_S = 10
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"
MIDDLE_HEX = "#{2:02x}{1:02x}{0:02x}".format(*MIDDLE)  # the nose's colour in server images (BGR there)


def keypoint_pixel_is(page, colour_hex: str, keypoint: list[float]) -> bool:
    """Whether the canvas shows ``colour_hex`` (±40 per channel) at ``keypoint`` (image pixels)."""
    return page.eval_on_selector("#canvas", """(canvas, [hex, kp]) => {
      const scale = Number(canvas.dataset.scale), dpr = canvas.width / canvas.clientWidth;
      const px = canvas.getContext("2d").getImageData(Math.round(kp[0] * scale * dpr),
                                                      Math.round(kp[1] * scale * dpr), 1, 1).data;
      const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      return want.every((v, i) => Math.abs(v - px[i]) <= 40);
    }""", [colour_hex, keypoint])


def find_on_detect_page(page, url: str, mode: str, image: Path) -> dict[str, Any]:
    """Choose ``mode`` on the detect page, upload ``image``; the answer, once the page shows it."""
    page.goto(f"{url}/detect")
    page.check(f"input[name=task][value={mode}]")
    assert page.get_attribute("body", "data-task") == mode
    page.set_input_files("#file", str(image))
    with page.expect_response(f"**/api/v1/{mode}?**") as response:
        page.click("#submit")
    page.wait_for_selector("body[data-state=done]")
    return json.loads(response.value.text())


def shown_above(answer: dict[str, Any], conf: float) -> list[dict[str, Any]]:
    """The detections the page shows: the server is asked for everything, the slider filters live."""
    return [det for det in answer["detections"] if det["score"] >= conf]


@pytest.mark.parametrize("case", [("pose", "squat.jpg", 1, 17, "Found 1 person."),
                                  ("face", "faces.jpg", 4, 20, "Found 4 faces.")])
def test_detect_page_find_switch_draws_keypoints(page, live_server, data_dir, screenshot, case):
    mode, image, people, points, summary = case
    answer = find_on_detect_page(page, live_server.url, mode, data_dir / image)
    assert page.input_value("#conf") == ("0.25" if mode == "pose" else "0.7")  # the mode's own default
    assert answer["task"] == mode
    shown = shown_above(answer, float(page.input_value("#conf")))
    assert len(shown) == people
    assert sum(k[2] >= KEYPOINT_MIN_SCORE for det in shown for k in det["keypoints"]) == points
    assert page.get_attribute("#canvas", "data-keypoints") == str(points)
    assert page.get_attribute("#canvas", "data-boxes") == str(people)
    assert page.text_content("#summary") == summary
    nose = shown[0]["keypoints"][0 if mode == "pose" else 2]
    assert keypoint_pixel_is(page, MIDDLE_HEX, nose)  # the nose dot, green as in server images
    screenshot(page, f"detect-{mode}")


def test_detect_page_switching_mode_asks_again_and_the_slider_filters_faces(page, live_server, data_dir):
    answer = find_on_detect_page(page, live_server.url, "face", data_dir / "zidane.jpg")
    weak = [det for det in answer["detections"] if det["score"] < 0.7]
    assert weak, "the page asks for faces below the default minimum, to filter them live"
    assert page.get_attribute("#canvas", "data-boxes") == str(len(shown_above(answer, 0.7)))
    page.fill("#conf", "0.05")
    page.dispatch_event("#conf", "input")
    assert page.get_attribute("#canvas", "data-boxes") == str(len(shown_above(answer, 0.05)))
    with page.expect_response("**/api/v1/detect?**") as response:
        page.check("input[name=task][value=detect]")  # the photo on the page, asked again for objects
    page.wait_for_function("() => document.getElementById('canvas').dataset.keypoints === '0'")
    assert json.loads(response.value.text())["task"] == "detect"
    assert page.get_attribute("body", "data-task") == "detect"
    assert page.text_content("#summary").startswith("Found ")


@pytest.fixture(params=sorted(SIZES))
def zh_page(request: Any, browser: Any) -> Iterator[Any]:
    """A page in a browser that asks for Chinese, at each size; uncaught page errors fail the test."""
    yield from open_sized_page(browser, request.param, locale="zh-CN")


@pytest.mark.parametrize("case", [("pose", "squat.jpg", "人体姿态", "找到 1 个人。"),
                                  ("face", "faces.jpg", "人脸", "找到 4 张人脸。")])
def test_detect_page_finds_people_and_faces_in_chinese(zh_page, live_server, data_dir, screenshot, case):
    mode, image, switch_label, summary = case
    answer = find_on_detect_page(zh_page, live_server.url, mode, data_dir / image)
    assert zh_page.text_content("#task-mode legend") == "检测内容"
    assert zh_page.text_content(f"label:has(input[value={mode}])").strip() == switch_label
    assert "关键点" in zh_page.text_content("#task-hint")
    assert zh_page.text_content("#summary") == summary
    assert zh_page.get_attribute("#canvas", "aria-label").endswith(summary)
    assert zh_page.get_attribute("#canvas", "data-keypoints") == {"pose": "17", "face": "20"}[mode]
    assert answer["task"] == mode
    assert zh_page.evaluate(NO_SIDEWAYS_SCROLL)
    # the page scrolls the result into view smoothly: wait for it to arrive (5 s at most)
    zh_page.wait_for_function("() => document.getElementById('canvas').getBoundingClientRect().top"
                              " < window.innerHeight", timeout=5000)
    screenshot(zh_page, f"detect-{mode}-zh-{zh_page.size_name}")


def load_fan() -> Any:
    spec = importlib.util.spec_from_file_location("fan_follow_face", EXAMPLES / "fan_follow_face.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def pushing_server(tmp_path: Path) -> Iterator[tuple[HttpServer, int]]:
    """The app on a real server, pushing to a Mosquitto of its own."""
    port = free_port()
    with mosquitto(tmp_path, port):
        app = create_app(config.load(env={}, overrides={"data_dir": str(tmp_path / "data"),
                                                         "broker.enabled": False}))
        sink = attach(app, MqttConfig(host="127.0.0.1", port=port, reconnect_max_s=1))
        assert sink.wait_connected(WAIT_S)
        server = HttpServer(app, "127.0.0.1", 0, workers=2).start_in_thread()
        try:
            yield server, port
        finally:
            server.stop()
            app.extensions["visioncast"].close()


def test_webcam_face_mode_turns_the_fan_toward_the_face(browser, pushing_server, data_dir, tmp_path):
    server, port = pushing_server
    frame = cv2.resize(cv2.imread(str(data_dir / "zidane.jpg")), (640, 360))  # biggest face on the right
    clip = tmp_path / "camera.mjpeg"
    clip.write_bytes(cv2.imencode(".jpg", frame)[1].tobytes() * 10)
    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={clip}"]
    camera = browser.browser_type.launch(executable_path=str(CHROMIUM), args=args)
    sub = Subscriber(port, "visioncast/webcam/target/#")
    try:
        context = camera.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(WAIT_S * 1000)
        context.grant_permissions(["camera"], origin=server.url)
        page = context.new_page()
        page.goto(f"{server.url}/webcam")
        page.check("input[name=task][value=face]")
        assert page.input_value("#conf") == "0.7"
        page.click("#start")
        page.wait_for_function("() => Number(document.getElementById('view').dataset.frames) >= 5")
        assert int(page.get_attribute("#view", "data-keypoints")) >= 5
        sub.wait_for(lambda m: sum(t.endswith("/x") for t, _ in m) >= 5)
        fan = load_fan().Follower()
        xs = [int(p) for p in sub.payloads("visioncast/webcam/target/x")]
        assert all(x > 70 for x in xs)  # the face is right of the middle of the picture
        angles = [fan.update(x) for x in xs]
        assert angles[0] > 90
        assert angles == sorted(angles)  # turning right, step by step
        context.close()
    finally:
        sub.close()
        camera.close()


def write_clip(path: Path, image: Path, size: tuple[int, int] = (640, 360), frames: int = 6) -> Path:
    """An MJPG AVI (which Chromium cannot play: the page previews the server's frames) of one still."""
    frame = cv2.resize(cv2.imread(str(image)), size)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for _ in range(frames):
        writer.write(frame)
    writer.release()
    return path


def test_video_page_face_mode_draws_landmarks_on_every_frame(page, live_server, data_dir, tmp_path):
    clip = write_clip(tmp_path / "faces.avi", data_dir / "zidane.jpg")
    page.goto(f"{live_server.url}/video")
    page.check("input[name=task][value=face]")
    assert page.input_value("#conf") == "0.7"
    page.set_input_files("#file", str(clip))
    with page.expect_request("**/api/v1/videos?*") as sent:
        page.click("#upload")
    assert "task=face" in sent.value.url
    page.wait_for_function("() => Number(document.getElementById('view').dataset.frame) >= 3")
    assert int(page.get_attribute("#view", "data-keypoints")) == 10  # 2 faces × 5 landmarks
    assert page.get_attribute("#view", "data-boxes") == "2"
    page.wait_for_function("() => document.getElementById('recent-jobs').textContent.includes('Faces')")


def test_video_page_in_chinese_finds_poses(zh_page, live_server, data_dir, tmp_path, screenshot):
    # 15 s of video: still playing when the test reaches the pause (6 frames ended before it under load)
    clip = write_clip(tmp_path / "pose.avi", data_dir / "squat.jpg", (400, 488), frames=150)
    zh_page.goto(f"{live_server.url}/video")
    zh_page.check("input[name=task][value=pose]")
    assert zh_page.input_value("#conf") == "0.25"
    zh_page.set_input_files("#file", str(clip))
    with zh_page.expect_request("**/api/v1/videos?*") as sent:
        zh_page.click("#upload")
    assert "task=pose" in sent.value.url
    zh_page.wait_for_function("() => Number(document.getElementById('view').dataset.frame) >= 3")
    assert int(zh_page.get_attribute("#view", "data-keypoints")) >= 12  # one person, the points MoveNet sees
    zh_page.wait_for_function("() => document.getElementById('recent-jobs').textContent.includes('人体姿态')")
    zh_page.click("#pause")
    assert zh_page.evaluate(NO_SIDEWAYS_SCROLL)
    screenshot(zh_page, f"video-pose-zh-{zh_page.size_name}")


def test_webcam_pose_mode_follows_the_person_in_chinese(browser, live_server, data_dir, tmp_path, screenshot):
    frame = cv2.resize(cv2.imread(str(data_dir / "zidane.jpg")), (640, 360))
    clip = tmp_path / "camera.mjpeg"
    clip.write_bytes(cv2.imencode(".jpg", frame)[1].tobytes() * 10)
    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={clip}"]
    camera = browser.browser_type.launch(executable_path=str(CHROMIUM), args=args)
    try:
        context = camera.new_context(locale="zh-CN", **SIZES["phone"])
        context.set_default_timeout(WAIT_S * 1000)
        context.grant_permissions(["camera"], origin=live_server.url)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sent: list[str] = []
        page.on("request", lambda req: sent.append(req.url) if "/api/v1/" in req.url else None)
        page.goto(f"{live_server.url}/webcam")
        page.check("input[name=task][value=pose]")
        assert page.input_value("#conf") == "0.25"
        page.click("#start")
        page.wait_for_function("() => Number(document.getElementById('view').dataset.frames) >= 3")
        assert sent
        assert all("/api/v1/pose?" in url and "follow=1" in url for url in sent), sent
        assert int(page.get_attribute("#view", "data-keypoints")) >= 10  # both men of zidane.jpg
        assert page.get_attribute("#view", "aria-label").endswith("找到 2 个人。")
        page.click("#pause")
        screenshot(page, "webcam-pose-zh-phone")
        assert errors == []
        context.close()
    finally:
        camera.close()
