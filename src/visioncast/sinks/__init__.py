"""Sinks: the I/O edge that consumes what the channels produce — MQTT, JSON lines, annotated files, MJPEG.

One protocol and one bus (:mod:`.bus`): every channel hands a :class:`Delivery` to a :class:`Dispatcher`,
which fans it out to its sinks, each call isolated. :func:`open_mqtt_sink` is the one place an MQTT sink is
built from the ``mqtt`` config section (the server, ``visioncast run``, streams and video jobs all use it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from visioncast.sinks.bus import Delivery, Dispatcher, Sink

if TYPE_CHECKING:
    from visioncast.config import MqttConfig
    from visioncast.sinks.mqtt import MqttSink

__all__ = ["Delivery", "Dispatcher", "Sink", "open_mqtt_sink"]


def open_mqtt_sink(cfg: MqttConfig, *, wait_s: float = 0.0) -> MqttSink:
    """The MQTT sink of ``cfg`` (a ``mqtt.url`` is resolved into host, port and login), connecting in the
    background; waits up to ``wait_s`` for the connection (``sink.connected``, ``sink.error`` say how it
    went). ConfigError naming a bad setting."""
    from visioncast.sinks.mqtt import MqttSink  # noqa: PLC0415 — paho loads only when MQTT is used

    sink = MqttSink(cfg).start()
    if wait_s > 0:
        sink.wait_connected(wait_s)
    return sink
