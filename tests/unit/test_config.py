"""Configuration: defaults ← TOML ← environment ← overrides; unknown keys and bad types are named."""

from __future__ import annotations

import re

import pytest

from visioncast.config import Config, load
from visioncast.errors import ConfigError


@pytest.fixture
def toml(tmp_path):
    def write(text: str):
        path = tmp_path / "visioncast.toml"
        path.write_text(text, encoding="utf-8")
        return path
    return write


def test_defaults_without_file_or_environment(tmp_path):
    cfg = load(env={"XDG_CACHE_HOME": str(tmp_path / "c"), "XDG_DATA_HOME": str(tmp_path / "d")})
    assert isinstance(cfg, Config)
    assert cfg.server.port == 5000
    assert cfg.models.detect == "yolox-nano"
    assert cfg.models.cache_dir == str(tmp_path / "c" / "visioncast" / "models")
    assert cfg.data_dir == str(tmp_path / "d" / "visioncast")
    assert cfg.server.results_dir == str(tmp_path / "d" / "visioncast" / "results")


def test_precedence_defaults_toml_env_overrides(toml):
    path = toml("[server]\nport = 6000\nhost = '0.0.0.0'\n[models]\nconf = 0.5\niou = 0.6\n")
    env = {"VISIONCAST_SERVER__PORT": "7000", "VISIONCAST_MODELS__CONF": "0.4"}
    cfg = load(path, env=env, overrides={"server.port": 8000, "models.iou": None})
    assert cfg.server.port == 8000  # override beats env beats TOML
    assert cfg.models.conf == 0.4  # env beats TOML
    assert cfg.models.iou == 0.6  # a None override (unset CLI flag) changes nothing
    assert cfg.server.host == "0.0.0.0"  # TOML beats default
    assert cfg.server.max_body_mb == 20.0  # default


def test_config_file_from_environment(toml):
    path = toml("[server]\nport = 6001\n")
    assert load(env={"VISIONCAST_CONFIG": str(path)}).server.port == 6001


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("off", False), ("No", False)])
def test_env_booleans(value, expected):
    assert load(env={"VISIONCAST_MQTT__RETAIN": value}).mqtt.retain is expected


@pytest.mark.parametrize(("tls", "host", "https"), [
    ("auto", "127.0.0.1", False), ("auto", "localhost", False), ("auto", "::1", False),
    ("auto", "0.0.0.0", True), ("auto", "192.168.1.20", True), ("on", "127.0.0.1", True),
    ("off", "0.0.0.0", False)])
def test_https_by_default_beyond_loopback(tls, host, https):
    server = load(env={"VISIONCAST_SERVER__TLS": tls, "VISIONCAST_SERVER__HOST": host}).server
    assert server.https() is https


@pytest.mark.parametrize(("written", "tls"), [("true", "on"), ("false", "off"), ("'yes'", "on"),
                                              ("'auto'", "auto")])
def test_a_tls_switch_written_as_a_boolean_still_reads(tmp_path, written, tls):
    """Configs written before tls grew "auto" said ``tls = true``: it means "on"."""
    path = tmp_path / "visioncast.toml"
    path.write_text(f"[server]\ntls = {written}\n", encoding="utf-8")
    assert load(env={"VISIONCAST_CONFIG": str(path)}).server.tls == tls


@pytest.mark.parametrize(("text", "env", "overrides", "message"), [
    ("[server]\nprot = 1\n", {}, {}, "unknown config key 'server.prot'; known: host, port"),
    ("[srever]\nport = 1\n", {}, {}, "unknown config key 'srever'"),
    ("", {"VISIONCAST_MODELS__CONFF": "0.5"}, {}, "unknown config key 'models.conff'"),
    ("", {}, {"server.nope": 1}, "unknown config key 'server.nope'"),
    ("[server]\nport = 'abc'\n", {}, {}, "config 'server.port' must be int, got 'abc'"),
    ("", {"VISIONCAST_SERVER__PORT": "eighty"}, {}, "config 'server.port' must be int, got 'eighty'"),
    ("[server]\nport = 80.5\n", {}, {}, "config 'server.port' must be int, got 80.5"),
    ("", {"VISIONCAST_MQTT__RETAIN": "maybe"}, {}, "config 'mqtt.retain' must be bool, got 'maybe'"),
    ("", {"VISIONCAST_SERVER__TLS": "maybe"}, {}, "config 'server.tls' must be one of 'auto', 'on', 'off'"),
    ("", {}, {"models.conf": "high"}, "config 'models.conf' must be float, got 'high'"),
    ("server = 5\n", {}, {}, "config 'server' must be a table, got 5"),
])
def test_errors_name_the_key(toml, text, env, overrides, message):
    path = toml(text) if text else None
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(path, env=env, overrides=overrides)


def test_missing_and_invalid_files(tmp_path, toml):
    with pytest.raises(ConfigError, match=r"config file not found: '.*nope\.toml'"):
        load(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load(toml("[server\nport = 1"), env={})


def test_load_reads_no_environment_when_given_one(monkeypatch):
    monkeypatch.setenv("VISIONCAST_SERVER__PORT", "9999")
    assert load(env={}).server.port == 5000
    assert load().server.port == 9999
