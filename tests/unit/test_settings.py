"""The saved layer of config.load: precedence, one rule set for every layer, with_saved, the file, the
migration of the old mqtt.json, and the JSON Schema derived from the same rules."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from visioncast import config
from visioncast.config import MqttConfig
from visioncast.config.saved import with_saved, write_saved
from visioncast.config.schema import TEMPLATE_SAMPLE, check_template, json_schema
from visioncast.errors import ConfigError
from visioncast.sinks import mqtt_format as fmt
from visioncast.sinks.mqtt_policy import POLICIES


def saved(data_dir: Path, text: str) -> Path:
    path = data_dir / "settings.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_precedence_defaults_toml_saved_env_flags(tmp_path: Path) -> None:
    toml = tmp_path / "visioncast.toml"
    toml.write_text("[mqtt]\nport = 1001\nprefix = 'fromfile'\nqos = 1\nsource = 'file'\n", encoding="utf-8")
    saved(tmp_path, "[mqtt]\nport = 1002\nprefix = 'fromsaved'\nqos = 0\n")
    env = {"VISIONCAST_MQTT__PORT": "1003", "VISIONCAST_MQTT__PREFIX": "fromenv"}
    cfg = config.load(toml, env=env, overrides={"data_dir": str(tmp_path), "mqtt.port": 1004})
    assert cfg.mqtt.port == 1004  # a flag always wins
    assert cfg.mqtt.prefix == "fromenv"  # env beats saved
    assert cfg.mqtt.qos == 0  # saved beats the file
    assert cfg.mqtt.source == "file"  # the file beats the default
    assert cfg.mqtt.payload == "label"  # default
    keys = ("port", "prefix", "qos", "source", "payload")
    assert [cfg.layers.origin(f"mqtt.{key}") for key in keys] == ["flags", "env", "saved", "file", "default"]


def test_saved_settings_are_read_from_the_data_dir_the_other_layers_name(tmp_path: Path) -> None:
    saved(tmp_path / "a", "[mqtt]\nprefix = 'a'\n")
    saved(tmp_path / "xdg" / "visioncast", "[mqtt]\nprefix = 'xdg'\n")
    assert config.load(env={}, overrides={"data_dir": str(tmp_path / "a")}).mqtt.prefix == "a"
    assert config.load(env={"XDG_DATA_HOME": str(tmp_path / "xdg")}).mqtt.prefix == "xdg"


BAD = "{label} {score:d}"


@pytest.mark.parametrize(("layer", "message"), [
    ("file", "config 'mqtt.template' cannot format a sample result (label='person', score=0.91): "
             "Unknown format code 'd' for object of type 'float' (in '"),
    ("saved", "config 'mqtt.template' cannot format a sample result (label='person', score=0.91): "
              "Unknown format code 'd' for object of type 'float' (in the saved settings '"),
    ("env", "(in the environment)"),
    ("flags", "(on the command line)"),
])
def test_one_rule_set_checks_every_layer(tmp_path: Path, layer: str, message: str) -> None:
    toml = tmp_path / "visioncast.toml"
    toml.write_text(f"[mqtt]\ntemplate = '{BAD}'\n" if layer == "file" else "", encoding="utf-8")
    if layer == "saved":
        saved(tmp_path, f"[mqtt]\ntemplate = '{BAD}'\n")
    env = {"VISIONCAST_MQTT__TEMPLATE": BAD} if layer == "env" else {}
    flags = {"data_dir": str(tmp_path), **({"mqtt.template": BAD} if layer == "flags" else {})}
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.load(toml, env=env, overrides=flags)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("mqtt.port", 0, "config 'mqtt.port' must be at least 1, got 0"),
    ("mqtt.port", 70000, "config 'mqtt.port' must be at most 65535, got 70000"),
    ("mqtt.payload", "xml", "config 'mqtt.payload' must be one of 'label', 'json', 'template', got 'xml'"),
    ("mqtt.qos", 2, "config 'mqtt.qos' must be one of 0, 1, got 2"),
    ("mqtt.prefix", "a/#", "config 'mqtt.prefix' must be a topic without + or #, got 'a/#'"),
    ("mqtt.prefix", "", "config 'mqtt.prefix' must not be empty"),
    ("mqtt.max_rate_hz", 0, "config 'mqtt.max_rate_hz' must be more than 0, got 0.0"),
    ("mqtt.label_map", "happy",
     "config 'mqtt.label_map' entries must look like 'label=message', got 'happy'"),
    ("mqtt.template", "{colour}", "config 'mqtt.template' may use {label}, {message}, {score}, {count}, "
                                  "{source}, {frame}, {timestamp}, {sent_at}, got {colour}"),
    ("mqtt.template", "{label[0]}", "got {label[0]}"),
    ("mqtt.template", "{", "config 'mqtt.template' is not a valid template"),
    ("mqtt.port", True, "config 'mqtt.port' must be int, got True"),
    ("server.port", 99999, "config 'server.port' must be at most 65535, got 99999"),
    ("broker.preset", "emqx", "config 'broker.preset' must be one of '', 'siot', got 'emqx'"),
])
def test_rules_name_the_key_what_was_expected_and_what_came(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.load(env={}, overrides={key: value})


def test_a_template_payload_needs_a_template() -> None:
    with pytest.raises(ConfigError, match=r"'mqtt\.template' must not be empty when mqtt\.payload is "):
        config.load(env={}, overrides={"mqtt.payload": "template"})


@pytest.mark.parametrize("template", ["{message}:{score}", "{label} {score:.2f} {count:d} {frame:04d}",
                                      "{{literal}} {source}@{timestamp:.0f}", "plain text", ""])
def test_good_templates_format_a_sample(template: str) -> None:
    check_template(template)
    template.format_map(TEMPLATE_SAMPLE)


def test_with_saved_keeps_only_changes_and_refuses_what_a_flag_or_env_sets(tmp_path: Path) -> None:
    toml = tmp_path / "visioncast.toml"
    toml.write_text("[mqtt]\nprefix = 'room1'\n", encoding="utf-8")
    cfg = config.load(toml, env={"VISIONCAST_MQTT__QOS": "1"},
                      overrides={"data_dir": str(tmp_path), "mqtt.enabled": False})
    new = with_saved(cfg, "mqtt", {"port": "1884", "prefix": "room1", "source": "cam", "qos": 1,
                                   "enabled": False})
    assert (new.mqtt.port, new.mqtt.source, new.mqtt.qos, new.mqtt.enabled) == (1884, "cam", 1, False)
    assert new.layers.saved == {"mqtt": {"port": 1884, "source": "cam"}}  # unchanged values are not saved
    back = with_saved(new, "mqtt", {"port": 1883})  # back to the value below: no longer saved
    assert back.layers.saved == {"mqtt": {"source": "cam"}}
    with pytest.raises(ConfigError, match=r"'mqtt.enabled' is set on the command line \(False\), which wins"):
        with_saved(cfg, "mqtt", {"enabled": True})
    with pytest.raises(ConfigError, match=r"'mqtt\.qos' is set by the environment variable VISIONCAST_"):
        with_saved(cfg, "mqtt", {"qos": 0})
    with pytest.raises(ConfigError, match=r"unknown config key 'mqtt\.colour'"):
        with_saved(cfg, "mqtt", {"colour": "red"})
    with pytest.raises(ConfigError, match=r"only \[mqtt\] settings can be saved"):
        with_saved(cfg, "server", {"port": 1})


def test_written_settings_come_back_after_a_restart_and_are_private(tmp_path: Path) -> None:
    cfg = config.load(env={}, overrides={"data_dir": str(tmp_path)})
    new = with_saved(cfg, "mqtt", {"host": "192.0.2.2", "password": "pw", "label_map": ("开心=yellow",)})
    write_saved(new.layers)
    path = tmp_path / "settings.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = config.load(env={}, overrides={"data_dir": str(tmp_path)})
    assert again.mqtt == new.mqtt
    assert again.mqtt.label_map == ("开心=yellow",)
    assert again.layers.origin("mqtt.host") == "saved"


def test_saved_settings_may_hold_mqtt_only(tmp_path: Path) -> None:
    saved(tmp_path, "[server]\nhost = '0.0.0.0'\n")
    with pytest.raises(ConfigError, match=r"may only hold \[mqtt\], got 'server'; fix or delete the file"):
        config.load(env={}, overrides={"data_dir": str(tmp_path)})


def legacy(data_dir: Path, **settings: object) -> Path:
    base = {"enabled": True, "host": "127.0.0.1", "port": 1883, "username": "", "password": "",
            "preset": "", "prefix": "visioncast", "source": "", "payload": "label", "template": "",
            "label_map": {}, "empty_label": "none", "policy": "every", "debounce_frames": 3, "window": 0,
            "max_rate_hz": 5.0, "qos": 0, "retain": False}
    path = data_dir / "mqtt.json"
    path.write_text(json.dumps({**base, **settings}), encoding="utf-8")
    return path


def test_old_mqtt_json_pointing_at_the_embedded_broker_migrates_to_host_empty(tmp_path: Path) -> None:
    """The case of issue 11: saved port 18831 with the embedded login must not beat --broker-port 18832."""
    legacy(tmp_path, port=18831, username="visioncast", password="embedded-pw", policy="change",
           label_map={"开心": "yellow"})
    cfg = config.load(env={}, overrides={"data_dir": str(tmp_path), "broker.port": 18832})
    assert cfg.mqtt.host == ""  # the embedded broker, on whatever port it has
    assert (cfg.mqtt.username, cfg.mqtt.password) == ("", "")
    assert (cfg.mqtt.policy, cfg.mqtt.label_map) == ("change", ("开心=yellow",))
    assert cfg.layers.saved == {"mqtt": {"policy": "change", "label_map": ["开心=yellow"]}}
    assert not (tmp_path / "mqtt.json").exists()
    assert (tmp_path / "mqtt.json.migrated").is_file()
    assert config.load(env={}, overrides={"data_dir": str(tmp_path)}).mqtt == cfg.mqtt  # read, not migrated


def test_old_mqtt_json_of_an_external_broker_keeps_its_login(tmp_path: Path) -> None:
    legacy(tmp_path, host="192.0.2.50", username="siot", password="dfrobot", preset="siot")
    cfg = config.load(env={}, overrides={"data_dir": str(tmp_path)})
    assert (cfg.mqtt.host, cfg.mqtt.username, cfg.mqtt.password) == ("192.0.2.50", "siot", "dfrobot")


def test_unusable_old_mqtt_json_is_named(tmp_path: Path) -> None:
    legacy(tmp_path, template="{label} {score:d}", payload="template")
    with pytest.raises(ConfigError, match=r"cannot migrate the MQTT settings '.*mqtt\.json': config "
                                          r"'mqtt\.template' cannot format a sample result"):
        config.load(env={}, overrides={"data_dir": str(tmp_path)})


def test_json_schema_comes_from_the_same_rules() -> None:
    schema = json_schema(MqttConfig, ["port", "preset", "template", "max_rate_hz", "label_map", "retain"])
    props = schema["properties"]
    assert props["port"] == {"type": "integer", "minimum": 1, "maximum": 65535,
                             "description": "ignored for the embedded broker"}
    assert props["preset"] == {"enum": ["", "siot", "people-counter"]}
    assert props["template"]["maxLength"] == 512
    assert props["max_rate_hz"] == {"type": "number", "exclusiveMinimum": 0, "maximum": 1000}
    assert props["label_map"] == {"type": "array", "items": {"type": "string"}}
    assert props["retain"]["type"] == "boolean"
    assert "never the result JSON" in props["retain"]["description"]
    assert schema["additionalProperties"] is False


def test_the_sinks_accept_exactly_the_choices_the_config_allows() -> None:
    assert set(fmt.PRESETS) == set(config.MQTT_PRESETS) == set(fmt.TOPICS)
    assert set(fmt.PAYLOADS) == set(config.MQTT_PAYLOADS)
    assert set(POLICIES) | {""} == set(config.MQTT_POLICIES)  # "" = the preset's policy
    assert tuple(TEMPLATE_SAMPLE) == fmt.TEMPLATE_FIELDS
