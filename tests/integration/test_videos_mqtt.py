"""Video jobs push every frame's result over MQTT with the push settings of the MQTT sink (source
the name given at upload), through a real embedded broker and a real paho subscriber."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from jsonschema import validate

from mqtt_peers import Subscriber, free_port
from visioncast import config
from visioncast.broker import open_broker
from visioncast.config import BrokerConfig, MqttConfig
from visioncast.core.payload import RESULT_SCHEMA
from visioncast.server.app import create_app
from visioncast.server.push.routes import attach

WAIT_S = 10.0
CLIP_FRAMES = 36


def test_every_video_frame_is_published_under_its_job_source(tmp_path: Path, data_dir: Path) -> None:
    port = free_port()
    broker = open_broker(BrokerConfig(host="127.0.0.1", port=port, ws_port=0, username="board",
                                      password="pw-1234"))
    app = create_app(config.load(env={}, overrides={"data_dir": str(tmp_path / "data")}))
    try:
        server = broker.server_login  # the server's login: boards may not publish results
        assert server is not None
        sink = attach(app, MqttConfig(host="127.0.0.1", port=port, username=server.username,
                                      password=server.password))
        sub = Subscriber(port, "visioncast/+/result", "board", "pw-1234")
        try:
            assert sink.wait_connected(WAIT_S), sink.error
            client = app.test_client()
            clip = (data_dir / "vtest_clip.mp4").read_bytes()
            job = client.post("/api/v1/videos?source=操场", data={"video": (io.BytesIO(clip), "clip.mp4")},
                              content_type="multipart/form-data").get_json()
            topic = "visioncast/操场/result"  # the name given at upload, never the upload's id
            sub.wait_for(lambda msgs: sum(t == topic for t, _ in msgs) >= CLIP_FRAMES)
            pushed = [json.loads(p) for p in sub.payloads(topic)]
            for payload in pushed:
                validate(payload, RESULT_SCHEMA)
            assert sorted(p["frame"] for p in pushed) == list(range(CLIP_FRAMES))
            deadline = time.monotonic() + WAIT_S
            while client.get(f"/api/v1/videos/{job['id']}").get_json()["state"] != "done":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            results = client.get(f"/api/v1/videos/{job['id']}/results").get_json()["results"]
            by_frame = {p["frame"]: p for p in pushed}
            assert all(by_frame[r["frame"]]["detections"] == r["detections"] for r in results)
        finally:
            sub.close()
    finally:
        app.extensions["visioncast"].close()
        broker.close()
