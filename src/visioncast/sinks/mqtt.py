"""The MQTT sink: the one publisher of results, stats and events for every channel. I/O: network (paho-mqtt).

``MqttSink(cfg.mqtt)`` never blocks its caller: ``publish()`` applies the publish policy, formats the messages
(:mod:`~visioncast.sinks.mqtt_format`) and puts them on a bounded queue; a sender thread hands them to a paho
2.x client whose own loop thread connects, reconnects with exponential backoff (1 s … ``reconnect_max_s``) and
keeps the last will ``{prefix}/status`` = offline. A message that cannot go out — queue full, broker
disconnected, publish refused — is counted in :meth:`MqttSink.status` (and so on /metrics), never lost
silently.

Commands on ``{prefix}/{source}/cmd`` are validated (:mod:`~visioncast.sinks.mqtt_command`) and answered on
``…/cmd/reply``. The sink handles ``pause``, ``resume`` and ``snapshot`` (publish the last result again)
itself; channels register the others (``set_threshold``) with :meth:`MqttSink.add_command_handler`.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from visioncast.config import MqttConfig
from visioncast.core.types import Frame, Result
from visioncast.errors import InputError, VisioncastError
from visioncast.sinks import mqtt_format as fmt
from visioncast.sinks.bus import Delivery
from visioncast.sinks.mqtt_command import command_name, parse_command
from visioncast.sinks.mqtt_policy import PublishPolicy

log = logging.getLogger(__name__)

CommandHandler = Callable[[str, dict[str, Any]], "dict[str, Any] | None"]
COUNTERS = ("sent", "dropped_queue_full", "dropped_disconnected", "dropped_error", "skipped", "paused",
            "commands", "bad_commands")
PAYLOAD_PREVIEW = 300
CLOSE_TIMEOUT_S = 5.0


class MqttSink:
    """Publishes results to an MQTT broker. Thread-safe; see the module docstring for the delivery rules."""

    def __init__(self, cfg: MqttConfig, *, client_id: str | None = None) -> None:
        self._lock = threading.Lock()
        self.counters = dict.fromkeys(COUNTERS, 0)
        self._handlers: dict[str, CommandHandler] = {}
        unique = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._client_id = client_id or f"visioncast-{unique}"
        self._client: paho.Client | None = None
        self._sender: threading.Thread | None = None
        self._start(cfg)

    # ---- lifecycle -------------------------------------------------------------------------------------
    def _start(self, cfg: MqttConfig) -> None:
        self.cfg = fmt.resolve(cfg)
        self.policy = PublishPolicy(self.cfg.policy, frames=self.cfg.debounce_frames, window=self.cfg.window,
                                    max_rate_hz=self.cfg.max_rate_hz)
        self._labels = fmt.label_map(self.cfg)
        self._queue: queue.Queue[fmt.Message] = queue.Queue(self.cfg.queue_size)
        self._paused_sources: set[str] = set()
        self._seen: dict[str, set[str]] = {}
        self._had_target: dict[str, bool | None] = {}
        self._seq: dict[str, int] = {}
        self._last: dict[str, list[fmt.Message]] = {}
        self.connected = threading.Event()
        self.commands_ready = threading.Event()  # set once the broker acknowledged the command subscription
        self.error = "" if self.cfg.enabled else "push is switched off"
        self.last_message: dict[str, Any] | None = None
        self._last_info: paho.MQTTMessageInfo | None = None
        self._stopping = threading.Event()
        if not self.cfg.enabled:
            return
        self._client = self._make_client()
        self._client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self._client.loop_start()
        self._sender = threading.Thread(target=self._send_loop, name="visioncast-mqtt-sender", daemon=True)
        self._sender.start()

    def _make_client(self) -> paho.Client:
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=self._client_id)
        if self.cfg.username:
            client.username_pw_set(self.cfg.username, self.cfg.password or None)
        will = fmt.status_message(self.cfg, online=False)
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.reconnect_delay_set(1, max(1, round(self.cfg.reconnect_max_s)))
        client.connect_timeout = 3.0
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = lambda *_: self.commands_ready.set()
        return client

    def close(self) -> None:
        """Say offline, disconnect, stop both threads; messages still queued are counted as dropped."""
        client, self._client = self._client, None
        self._stopping.set()
        if self._sender is not None:
            self._sender.join(CLOSE_TIMEOUT_S)
            self._sender = None
        if client is not None:
            if self.connected.is_set():
                bye = fmt.status_message(self.cfg, online=False)
                info = client.publish(bye.topic, bye.payload, qos=bye.qos, retain=bye.retain)
                try:
                    info.wait_for_publish(timeout=2.0)
                except (RuntimeError, ValueError) as exc:
                    log.info("MQTT offline status not confirmed: %s", exc)
            client.disconnect()
            client.loop_stop()
            sock = client.socket()  # a reconnect racing with loop_stop can leave one open
            if sock is not None:
                sock.close()
        self.connected.clear()
        with self._lock:
            self.counters["dropped_disconnected"] += self._queue.qsize()
            self._queue = queue.Queue(1)

    def reconfigure(self, cfg: MqttConfig) -> None:
        """Apply new settings: checked first (ConfigError leaves the sink as it was), then reconnect."""
        fmt.resolve(cfg)
        self.close()
        self._start(cfg)

    def flush(self, timeout_s: float = CLOSE_TIMEOUT_S) -> bool:
        """Wait (at most ``timeout_s``) until every queued message has been handed to the broker, the last
        one acknowledged at QoS 1; True when nothing is left. For the end of a run, before :meth:`close`."""
        deadline = time.monotonic() + timeout_s
        done = self._queue.all_tasks_done
        with done:
            if not done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout_s):
                return False
        info = self._last_info
        if info is not None and self.connected.is_set():
            try:
                info.wait_for_publish(timeout=max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                return False
        return True

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until connected or until an error is known (at most ``timeout_s``); True when connected."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.cfg.enabled:
            if self.connected.wait(0.05):
                return True
            if self.error:
                return False
        return self.connected.is_set()

    # ---- the Sink contract -------------------------------------------------------------------------------
    needs_image = False

    def deliver(self, delivery: Delivery) -> None:
        """The result, the statistics snapshot and the events of one delivery (see the three below)."""
        if delivery.result is not None:
            self.publish(delivery.result, source=delivery.source, frame=delivery.frame)
        if delivery.stats is not None:
            self.publish_stats(delivery.stats, source=delivery.source)
        for event in delivery.events:
            self.publish_event(event, source=delivery.source)

    def publish(self, result: Result, *, source: str, frame: Frame | None = None, **extra: Any) -> None:
        """Queue the messages of ``result`` (per the policy); never blocks, never raises for delivery."""
        source = self.cfg.source or source
        self._enqueue(self._target_messages(result, source))
        with self._lock:
            if source in self._paused_sources:
                self.counters["paused"] += 1
                return
            label = self.policy.decide(source, result.top_label or self.cfg.empty_label, time.monotonic())
            self._seq[source] = self._seq.get(source, -1) + 1
            if label is None:
                self.counters["skipped"] += 1
                return
            fields = self._fields(source, frame, extra)
            seen = self._seen.setdefault(source, set())
            messages = fmt.result_messages(self.cfg, result, label, fields, seen)
            seen.update(result.counts())
            self._last[source] = messages
        self._enqueue(messages)

    def _target_messages(self, result: Result, source: str) -> list[fmt.Message]:
        """Where the biggest face/person is (``fmt.target_messages``), each value decided by the policy like a
        snapshot (every / on change / rate-limited), independent of the label's debouncing."""
        with self._lock:
            if source in self._paused_sources:
                return []
            messages, self._had_target[source] = fmt.target_messages(
                self.cfg, result, source, self._had_target.get(source))
            keep = [m for m in messages if self.policy.decide_value(m.topic, m.payload, time.monotonic())]
            self.counters["skipped"] += len(messages) - len(keep)
        return keep

    def _fields(self, source: str, frame: Frame | None, extra: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {"source": source, "frame": frame.index if frame else self._seq[source],
                                  "timestamp": frame.timestamp_s if frame else round(time.time(), 3)}
        fields.update((k, v) for k, v in extra.items() if k != "image")  # no base64 images on MQTT
        return fields

    def publish_stats(self, stats: dict[str, Any], *, source: str) -> None:
        """Queue an analytics snapshot (people-counter: ``person`` {count, total}, per the policy)."""
        source = self.cfg.source or source
        messages = fmt.stats_messages(self.cfg, stats, source)
        with self._lock:
            keep = [m for m in messages if self.policy.decide_value(m.topic, m.payload, time.monotonic())]
            self.counters["skipped"] += len(messages) - len(keep)
        self._enqueue(keep)

    def publish_event(self, event: dict[str, Any], *, source: str) -> None:
        """Queue an analytics event (people-counter: ``person/duration`` when a person leaves)."""
        self._enqueue(fmt.event_messages(self.cfg, event, self.cfg.source or source))

    def _enqueue(self, messages: list[fmt.Message]) -> None:
        if not self.cfg.enabled or self._stopping.is_set():
            with self._lock:
                self.counters["skipped" if not self.cfg.enabled else "dropped_disconnected"] += len(messages)
            return
        for message in messages:
            try:
                self._queue.put_nowait(message)
            except queue.Full:
                with self._lock:
                    self.counters["dropped_queue_full"] += 1

    def status(self) -> dict[str, Any]:
        """connected, error (why not), broker, sent/dropped/queued counters and the last message sent."""
        with self._lock:
            counters = dict(self.counters)
        dropped = sum(counters[k] for k in ("dropped_queue_full", "dropped_disconnected", "dropped_error"))
        return {"enabled": self.cfg.enabled, "connected": self.connected.is_set(), "error": self.error,
                "broker": f"{self.cfg.host}:{self.cfg.port}", "client_id": self._client_id,
                "dropped": dropped, "queued": self._queue.qsize(), **counters,
                "last_message": self.last_message, "commands_available": sorted(self.command_names())}

    # ---- sending ------------------------------------------------------------------------------------------
    def _send_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                message = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._send(message)
            finally:
                self._queue.task_done()

    def _send(self, message: fmt.Message) -> None:
        client = self._client
        if client is None or not self.connected.is_set():
            with self._lock:
                self.counters["dropped_disconnected"] += 1
            return
        info = client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
        self._last_info = info
        with self._lock:
            if info.rc != paho.MQTT_ERR_SUCCESS:
                key = "dropped_disconnected" if info.rc == paho.MQTT_ERR_NO_CONN else "dropped_error"
                self.counters[key] += 1
                return
            self.counters["sent"] += 1
        text = message.payload[:PAYLOAD_PREVIEW].decode("utf-8", "replace")
        self.last_message = {"topic": message.topic, "payload": text, "time": round(time.time(), 3)}

    # ---- connection callbacks (paho's loop thread) ---------------------------------------------------------
    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.error = f"the broker at {self.cfg.host}:{self.cfg.port} refused the login: {reason}"
            self.connected.clear()
            log.warning("MQTT: %s", self.error)
            return
        online = fmt.status_message(self.cfg, online=True)
        client.publish(online.topic, online.payload, qos=online.qos, retain=online.retain)
        client.subscribe(fmt.command_filter(self.cfg), qos=1)
        self.error = ""
        self.connected.set()
        log.info("MQTT connected to %s:%s", self.cfg.host, self.cfg.port)

    def _on_connect_fail(self, _client: paho.Client, _u: Any) -> None:
        self.connected.clear()
        self.commands_ready.clear()
        reason = _diagnose(self.cfg.host, self.cfg.port)
        self.error = f"cannot reach {self.cfg.host}:{self.cfg.port}: {reason}"
        log.info("MQTT: %s (retrying with backoff)", self.error)

    def _on_disconnect(self, _client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        self.commands_ready.clear()
        if not self._stopping.is_set() and was_connected:
            self.error = f"lost the connection to {self.cfg.host}:{self.cfg.port}: {reason}"
            log.warning("MQTT: %s (reconnecting)", self.error)

    # ---- commands ----------------------------------------------------------------------------------------
    def add_command_handler(self, name: str, handler: CommandHandler) -> None:
        """Let a channel act on command ``name``: ``handler(source, command)`` returns extra reply fields."""
        self._handlers[name] = handler

    def command_names(self) -> set[str]:
        return {"pause", "resume", "snapshot", *self._handlers}

    def _on_message(self, client: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        source = fmt.command_source(self.cfg, msg.topic)
        payload = bytes(msg.payload)
        if source is None:
            return
        with self._lock:
            self.counters["commands"] += 1
        try:
            command = parse_command(payload)
            reply = {"ok": True, "cmd": command["cmd"], **(self._run(source, command) or {})}
        except VisioncastError as exc:
            with self._lock:
                self.counters["bad_commands"] += 1
            reply = {"ok": False, "cmd": command_name(payload), "error": exc.code, "message": str(exc)}
            log.info("MQTT command on %s rejected: %s", msg.topic, exc)
        if "id" in (parsed := _maybe_json(payload)):
            reply["id"] = parsed["id"]
        answer = fmt.reply_message(self.cfg, source, reply)
        client.publish(answer.topic, answer.payload, qos=answer.qos, retain=answer.retain)

    def _run(self, source: str, command: dict[str, Any]) -> dict[str, Any] | None:
        name = command["cmd"]
        if name in ("pause", "resume"):
            with self._lock:
                (self._paused_sources.add if name == "pause" else self._paused_sources.discard)(source)
            return {"paused": name == "pause"}
        if name == "snapshot":
            with self._lock:
                last = list(self._last.get(source, []))
            if not last:
                raise InputError(f"snapshot: no result has been published for source '{source}' yet")
            self._enqueue(last)
            return {"messages": len(last)}
        handler = self._handlers.get(name)
        if handler is None:
            raise InputError(f"{name}: no channel of this server handles it (available: "
                             f"{', '.join(sorted(self.command_names()))})")
        return handler(source, command)


def _maybe_json(payload: bytes | bytearray) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _diagnose(host: str, port: int) -> str:
    """Why a TCP connection to ``host:port`` fails, in plain words (paho does not pass the reason)."""
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return "the TCP connection works but the MQTT handshake failed (is it an MQTT broker?)"
    except socket.gaierror as exc:
        return f"unknown host name ({exc.strerror})"
    except ConnectionRefusedError:
        return "connection refused (no broker is listening on that port)"
    except TimeoutError:
        return "no answer within 2 s (wrong address, or a firewall)"
    except OSError as exc:
        return exc.strerror or str(exc)
