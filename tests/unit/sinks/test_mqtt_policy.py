"""The pure parts of MQTT push: debounce/majority/rate policies, topics, payload formats, settings checks."""

from __future__ import annotations

import dataclasses

import pytest

from visioncast.config import MqttConfig
from visioncast.core.types import Classification, Result
from visioncast.errors import ConfigError
from visioncast.sinks import mqtt_format as fmt
from visioncast.sinks.mqtt_policy import Debouncer, PublishPolicy, RateLimiter


@pytest.mark.parametrize(("frames", "window", "labels", "expected"), [
    (3, 0, "a a a b a b b b", "a b"),
    (3, 0, "a a b b a a", ""),
    (1, 0, "a a b b a", "a b a"),
    (2, 0, "a b b a a a b", "b a"),
    (1, 3, "a b a b b c c c", "a b c"),
    (1, 5, "a b c a b c", ""),
    (1, 4, "a a a b b b b", "a b"),
])
def test_debouncer_publishes_exactly_the_stable_changes(frames: int, window: int, labels: str,
                                                         expected: str) -> None:
    deb = Debouncer(frames, window)
    out = [x for x in (deb.update(label) for label in labels.split()) if x is not None]
    assert out == expected.split()


def test_rate_limiter_spacing() -> None:
    lim = RateLimiter(2.0)
    assert [lim.allow(t) for t in (0.0, 0.1, 0.49, 0.5, 0.9, 1.0)] == [True, False, False, True, False, True]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"mode": "sometimes"}, "policy must be one of"),
    ({"mode": "change", "frames": 0}, "debounce_frames must be >= 1"),
    ({"mode": "rate", "max_rate_hz": 0}, "max_rate_hz must be > 0"),
])
def test_policy_rejects_bad_settings(kwargs: dict, message: str) -> None:
    mode = kwargs.pop("mode")
    with pytest.raises(ConfigError, match=message):
        PublishPolicy(mode, **kwargs)


def test_value_policy_on_change() -> None:
    pol = PublishPolicy("change")
    assert [pol.decide_value("person", v, 0.0) for v in (b"1", b"1", b"2", b"2", b"1")] == [
        True, False, True, False, True]


def test_topics_come_from_one_template_per_preset() -> None:
    cfg = MqttConfig()
    assert fmt.topic(cfg, "count", "cam/1", "a+b") == "visioncast/cam_1/count/a_b"
    assert fmt.topic(dataclasses.replace(cfg, preset="siot"), "label", "表情") == "siot/表情"
    assert fmt.topic(dataclasses.replace(cfg, preset="siot"), "result", "x") is None
    assert fmt.command_source(cfg, "visioncast/api/cmd") == "api"
    assert fmt.command_source(cfg, "visioncast/api/label") is None


def test_label_payload_formats() -> None:
    top2 = Classification([1, 0], [0.7, 0.3], ["happy", "sad"])
    result = Result("classify", "m", 8, 8, classification=top2)
    fields = {"source": "face", "frame": 4, "timestamp": 1.5}
    cfg = MqttConfig(label_map=("happy=yellow",))
    assert fmt.label_payload(cfg, result, "happy", fields) == b"yellow"
    templ = dataclasses.replace(cfg, payload="template", template="{message}:{score}@{frame}")
    assert fmt.label_payload(templ, result, "happy", fields) == b"yellow:0.7@4"


@pytest.mark.parametrize(("changes", "message"), [
    ({"qos": 2}, "mqtt.qos must be one of 0, 1, got 2"),
    ({"payload": "template", "template": "{oops}"}, "got {oops}"),
    ({"label_map": ("happy",)}, "entries must look like 'label=message'"),
    ({"url": "http://x"}, "must look like mqtt://"),
    ({"preset": "emqx"}, "mqtt.preset must be one of"),
])
def test_resolve_names_the_bad_setting(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        fmt.resolve(dataclasses.replace(MqttConfig(), **changes))


def test_siot_preset_fills_its_login() -> None:
    cfg = fmt.resolve(MqttConfig(preset="siot"))
    assert (cfg.username, cfg.password) == ("siot", "dfrobot")
