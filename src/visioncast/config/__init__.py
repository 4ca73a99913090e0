"""Configuration: frozen dataclasses (``model.py``, their rules in ``schema.py``), the layers applied in
precedence order (``build.py``), the settings saved from the pages (``saved.py``) and :func:`load`
(``loader.py``), the only reader of config files and the environment. The precedence is in ``model.py``.
"""

from __future__ import annotations

from visioncast.config.build import below_saved, build
from visioncast.config.loader import load
from visioncast.config.model import (
    ENV_PREFIX,
    LAYERS,
    LEGACY_MQTT_FILE,
    MQTT_PAYLOADS,
    MQTT_POLICIES,
    MQTT_PRESETS,
    SAVED_FILE,
    SAVED_SECTIONS,
    BrokerConfig,
    Config,
    Layers,
    ModelsConfig,
    MqttConfig,
    PipelineConfig,
    RayConfig,
    ServerConfig,
    StreamsConfig,
    VideosConfig,
    default_cache_dir,
    default_data_dir,
    settable,
)

__all__ = [
    "ENV_PREFIX",
    "LAYERS",
    "LEGACY_MQTT_FILE",
    "MQTT_PAYLOADS",
    "MQTT_POLICIES",
    "MQTT_PRESETS",
    "SAVED_FILE",
    "SAVED_SECTIONS",
    "BrokerConfig",
    "Config",
    "Layers",
    "ModelsConfig",
    "MqttConfig",
    "PipelineConfig",
    "RayConfig",
    "ServerConfig",
    "StreamsConfig",
    "VideosConfig",
    "below_saved",
    "build",
    "default_cache_dir",
    "default_data_dir",
    "load",
    "settable",
]
