"""MQTT of the pipeline through a real Mosquitto: the people-counter preset's ``person`` {count, total}
follows the statistics snapshots and ``person/duration`` {duration} follows the persons' ``track_left``
events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import free_port
from tests.mqtt_peers import Subscriber, mosquitto

from visioncast import config
from visioncast.config import PipelineConfig
from visioncast.models import load_model
from visioncast.pipeline.build import open_pipeline
from visioncast.sinks.mqtt import MqttSink


def test_people_counter_messages_match_the_stats(data_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    with mosquitto(tmp_path, port):
        sub = Subscriber(port, "person/#")
        cfg = config.load(
            env={},
            overrides={
                "mqtt.url": f"mqtt://127.0.0.1:{port}",
                "mqtt.preset": "people-counter",
                "mqtt.policy": "every",
                "mqtt.qos": 1,
            },
        )
        sink = MqttSink(cfg.mqtt)
        try:
            assert sink.wait_connected(10.0)
            snapshots: list[dict[str, Any]] = []
            events: list[dict[str, Any]] = []
            pipeline = open_pipeline(
                str(data_dir / "vtest_clip.avi"),
                load_model("yolox-nano"),
                PipelineConfig(),
                name="clip",
                publishers=[sink],
            )
            pipeline.on_frame = lambda stats, new: (snapshots.append(stats), events.extend(new))
            pipeline.run()
            people_left = [
                e
                for e in [*events, *pipeline.final_events]
                if e["type"] == "track_left" and e["label"] == "person"
            ]
            expected = [
                {"count": s["counts"].get("person", 0), "total": s["totals"].get("person", 0)}
                for s in snapshots
            ]
            sub.wait_for(
                lambda m: (
                    sum(t == "person" for t, _ in m) >= len(expected)
                    and sum(t == "person/duration" for t, _ in m) >= len(people_left)
                )
            )
        finally:
            sink.close()
            sub.close()
    counts = [json.loads(p) for p in sub.payloads("person")]
    durations = [json.loads(p) for p in sub.payloads("person/duration")]
    assert counts == expected
    assert len(expected) == 70
    assert expected[-1]["total"] >= 8
    assert sorted(d["duration"] for d in durations) == sorted(e["duration_s"] for e in people_left)
    assert any(e in pipeline.final_events for e in people_left)  # people still in view leave at the end
