"""Pose and face on the pages, in headless Chromium against real servers: the detect page's "Find" switch
draws skeletons and landmarks; the webcam page in face mode moves the fan example's servo through a real
broker."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest

from mqtt_peers import Subscriber, free_port, mosquitto
from visioncast import config
from visioncast.config import MqttConfig
from visioncast.server import create_app
from visioncast.server.mqtt import attach
from visioncast.server.wsgi import HttpServer

CHROMIUM = Path(os.environ.get("VISIONCAST_CHROMIUM", "/usr/bin/chromium"))  # as tests/e2e/conftest.py
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WAIT_S = 10


def keypoint_pixel_is(page, colour_hex: str, keypoint: list[float]) -> bool:
    """Whether the canvas shows ``colour_hex`` (±40 per channel) at ``keypoint`` (image pixels)."""
    return page.eval_on_selector("#canvas", """(canvas, [hex, kp]) => {
      const scale = Number(canvas.dataset.scale), dpr = canvas.width / canvas.clientWidth;
      const px = canvas.getContext("2d").getImageData(Math.round(kp[0] * scale * dpr),
                                                      Math.round(kp[1] * scale * dpr), 1, 1).data;
      const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      return want.every((v, i) => Math.abs(v - px[i]) <= 40);
    }""", [colour_hex, keypoint])


@pytest.mark.parametrize("case", [("pose", "squat.jpg", 1, 17), ("face", "faces.jpg", 4, 20)])
def test_detect_page_find_switch_draws_keypoints(page, live_server, data_dir, screenshot, case):
    mode, image, people, points = case
    route = mode
    page.goto(f"{live_server.url}/detect")
    page.check(f"input[name=task][value={mode}]")
    assert page.input_value("#conf") == ("0.25" if mode == "pose" else "0.7")
    page.set_input_files("#file", str(data_dir / image))
    with page.expect_response(f"**/api/v1/{route}**") as response:
        page.click("#submit")
    page.wait_for_selector("body[data-state=done]")
    answer = json.loads(response.value.text())
    assert answer["task"] == mode
    assert len(answer["detections"]) == people
    assert page.get_attribute("#canvas", "data-keypoints") == str(points)
    noun = "person" if mode == "pose" else "faces"
    assert noun in page.text_content("#summary")
    nose = answer["detections"][0]["keypoints"][0 if mode == "pose" else 2]
    assert keypoint_pixel_is(page, "#50dc50", nose)  # the nose dot, drawn green
    screenshot(page, f"detect-{mode}")


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
        page.click("#start")
        page.wait_for_function("Number(document.getElementById('view').dataset.frames) >= 5")
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


def test_video_page_face_mode_draws_landmarks_on_every_frame(page, live_server, data_dir, tmp_path):
    clip = tmp_path / "faces.avi"
    frame = cv2.resize(cv2.imread(str(data_dir / "zidane.jpg")), (640, 360))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 360))
    for _ in range(6):
        writer.write(frame)
    writer.release()
    page.goto(f"{live_server.url}/video")
    page.check("input[name=task][value=face]")
    assert page.input_value("#conf") == "0.7"
    page.set_input_files("#file", str(clip))
    with page.expect_request("**/api/v1/videos?*") as sent:
        page.click("#upload")
    assert "task=face" in sent.value.url
    page.wait_for_function("Number(document.getElementById('view').dataset.frame) >= 3")
    assert int(page.get_attribute("#view", "data-keypoints")) == 10  # 2 faces × 5 landmarks
