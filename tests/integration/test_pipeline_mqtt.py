"""MQTT of the pipeline through a real Mosquitto: every frame's result (default preset) and label (siot
preset) in frame order; the people-counter preset's ``person`` {count, total} follows the statistics
snapshots and ``person/duration`` {duration} follows the persons' ``track_left`` events."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from jsonschema import validate
from tests.mqtt_peers import Subscriber, free_port, mosquitto

from visioncast import config
from visioncast.config import PipelineConfig
from visioncast.core.payload import RESULT_SCHEMA
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
        sink = MqttSink(cfg.mqtt).start()
        try:
            assert sink.wait_connected(10.0)
            snapshots: list[dict[str, Any]] = []
            events: list[dict[str, Any]] = []
            pipeline = open_pipeline(
                str(data_dir / "vtest_clip.avi"),
                load_model("yolox-nano"),
                PipelineConfig(),
                name="clip",
                shared=[sink],
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



def _run_clip(data_dir: Path, sub: Subscriber, port: int, topics: tuple[str, ...],
              **mqtt: Any) -> list[dict[str, Any]]:
    """Run the clip's pipeline publishing to the broker on ``port`` and wait until ``sub`` has one message
    per frame on every one of ``topics`` (a frame's topics are published one after the other, so waiting
    for the first alone races the others); the stats snapshots."""
    overrides = {"mqtt.url": f"mqtt://127.0.0.1:{port}", "mqtt.policy": "every", "mqtt.qos": 1,
                 **{f"mqtt.{k}": v for k, v in mqtt.items()}}
    sink = MqttSink(config.load(env={}, overrides=overrides).mqtt).start()
    snapshots: list[dict[str, Any]] = []
    try:
        assert sink.wait_connected(10.0)
        pipeline = open_pipeline(str(data_dir / "vtest_clip.avi"), load_model("yolox-nano"), PipelineConfig(),
                                 name="clip", shared=[sink])
        pipeline.on_frame = lambda stats, new: snapshots.append(stats)
        pipeline.run()
        sub.wait_for(lambda m: all(sum(t == topic for t, _ in m) >= len(snapshots) for topic in topics))
    finally:
        sink.close()
        sub.close()
    return snapshots


def test_every_frame_result_is_pushed_in_order(data_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    with mosquitto(tmp_path, port):
        sub = Subscriber(port, "visioncast/clip/#")
        topics = tuple(f"visioncast/clip/{t}" for t in ("result", "label", "stats"))
        snapshots = _run_clip(data_dir, sub, port, topics)
    results = [json.loads(p) for p in sub.payloads("visioncast/clip/result")]
    assert len(snapshots) == 70
    assert [r["frame"] for r in results] == [s["frame"] for s in snapshots] == list(range(70))
    for result, stats in zip(results, snapshots, strict=True):
        validate(result, RESULT_SCHEMA)
        assert result["source"] == "clip"
        assert dict(Counter(d["label"] for d in result["detections"])) == stats["counts"]
    labels = [p.decode() for p in sub.payloads("visioncast/clip/label")]
    assert len(labels) == 70
    assert labels.count("person") >= 60
    assert len(sub.payloads("visioncast/clip/stats")) == 70


def test_siot_preset_gets_the_label_of_every_frame(data_dir: Path, tmp_path: Path) -> None:
    """A Mind+/SIoT board subscribed to siot/<source> hears `visioncast run --mqtt-preset siot`."""
    port = free_port()
    with mosquitto(tmp_path, port, users={"siot": "dfrobot"}):
        sub = Subscriber(port, "siot/#", "siot", "dfrobot")
        snapshots = _run_clip(data_dir, sub, port, ("siot/clip",), preset="siot")
    labels = [p.decode() for p in sub.payloads("siot/clip")]
    assert len(labels) == len(snapshots) == 70
    seen = {label for s in snapshots for label in s["counts"]}
    assert set(labels) <= seen | {"none"}
    assert labels.count("person") >= 60
