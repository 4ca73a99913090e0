"""The MQTT sink: the one publisher of results, stats and events for every channel. I/O: network (paho-mqtt).

``MqttSink(cfg.mqtt)`` opens nothing; :meth:`MqttSink.start` connects. It never blocks its caller:
``publish()`` applies the publish policy, formats the messages (:mod:`~visioncast.sinks.mqtt_format`) and puts
them on a bounded queue; a sender thread hands them to a paho 2.x client whose own loop thread connects,
reconnects with exponential backoff (1 s … ``reconnect_max_s``) and keeps the last will
``{prefix}/{instance}/status`` = offline (one per publisher: a run that ends does not mark the server
offline). A message that cannot go out — queue full, broker disconnected, publish refused — is counted in
:meth:`MqttSink.status` (and so on /metrics), never lost silently. ``sent`` counts what the broker
acknowledged (QoS 1) or what was written to the connection (QoS 0); what was handed over but not acknowledged
when the sink closes (after :meth:`flush` waited ``flush_timeout_s``) is counted as ``lost``.

Commands on ``{prefix}/{source}/cmd``: what they do and how they are answered is in
:mod:`~visioncast.sinks.mqtt_command`; channels may register more with :meth:`MqttSink.add_command_handler`.
"""

from __future__ import annotations

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

import visioncast.sinks.mqtt_format as fmt
from visioncast.config import MqttConfig
from visioncast.core.types import Frame, Result
from visioncast.errors import InputError
from visioncast.network import tcp_connect
from visioncast.sinks.bus import Delivery
from visioncast.sinks.mqtt_command import answer_command
from visioncast.sinks.mqtt_discovery import discovery_messages
from visioncast.sinks.mqtt_policy import PublishPolicy

log = logging.getLogger(__name__)

CommandHandler = Callable[[str, dict[str, Any]], "dict[str, Any] | None"]
COUNTERS = ("sent", "handed", "lost", "dropped_queue_full", "dropped_disconnected", "dropped_error",
            "skipped", "paused", "commands", "bad_commands")
PAYLOAD_PREVIEW = 300
CLOSE_TIMEOUT_S = 5.0
EARLY_KEEP_S = 10.0  # an acknowledgement nobody claimed is forgotten after this (status and reply ids)


class MqttSink:
    """Publishes results to an MQTT broker. Thread-safe; see the module docstring for the delivery rules."""

    def __init__(self, cfg: MqttConfig, *, client_id: str | None = None) -> None:
        self._lock = threading.Lock()
        self._pending: set[int] = set()  # message ids handed to paho, not yet acknowledged
        self._early: dict[int, float] = {}  # ids acknowledged before _send saw them → monotonic time
        self._acked = threading.Condition(self._lock)  # notified when the broker acknowledges a message
        self.counters = dict.fromkeys(COUNTERS, 0)
        self._handlers: dict[str, CommandHandler] = {}
        unique = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(8)}"  # Mosquitto lets any login
        self._client_id = client_id or f"visioncast-{unique}"  # take a connected id over: unguessable
        self._client: paho.Client | None = None
        self._sender: threading.Thread | None = None
        self._configure(cfg)

    def _configure(self, cfg: MqttConfig) -> None:
        """Take ``cfg`` (resolved) and reset the per-connection state; opens nothing."""
        self.cfg = fmt.resolve(cfg)
        self._was_connected = False  # a reconnection of this client sends the retained state again:
        self._kept: dict[str, list[fmt.Message]] = {}  # per source, what it retained under these settings
        self.policy = PublishPolicy(self.cfg.policy, frames=self.cfg.debounce_frames, window=self.cfg.window,
                                    max_rate_hz=self.cfg.max_rate_hz)
        self._labels = fmt.label_map(self.cfg)
        self._queue: queue.Queue[fmt.Message] = queue.Queue(self.cfg.queue_size)
        self._paused_sources: set[str] = set()
        self._thresholds: dict[str, float] = {}
        self._announced: set[str] = set()  # Home Assistant discovery objects already sent
        self._seen: dict[str, set[str]] = {}
        self._had_target: dict[str, bool | None] = {}
        self._seq: dict[str, int] = {}
        self._last: dict[str, list[fmt.Message]] = {}
        self._retained: set[str] = set()  # topics this sink left a retained label/count/target on
        self.connected = threading.Event()
        self.commands_ready = threading.Event()  # set once the broker acknowledged the command subscription
        self.error = "" if self.cfg.enabled else "push is switched off"
        self.error_code = "" if self.cfg.enabled else "off"  # stable: pages translate it (mqtt.error.<code>)
        self.last_message: dict[str, Any] | None = None
        self._stopping = threading.Event()

    def start(self) -> MqttSink:
        """Connect in the background (paho's loop thread) and start the sender; nothing when push is off or
        the sink runs already. Returns the sink."""
        if not self.cfg.enabled or self._client is not None:
            return self
        self._client = self._make_client()
        self._client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self._client.loop_start()
        self._sender = threading.Thread(target=self._send_loop, name="visioncast-mqtt-sender", daemon=True)
        self._sender.start()
        return self

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
        client.on_publish = self._on_publish
        return client

    def close(self, *, clear_retained: bool = False) -> None:
        """Say offline, disconnect, stop both threads; messages still queued are counted as dropped.
        ``clear_retained``: first remove the labels, counts and targets this sink left retained."""
        client, self._client = self._client, None
        self._stopping.set()
        if self._sender is not None:
            self._sender.join(CLOSE_TIMEOUT_S)
            self._sender = None
        if client is not None:
            if self.connected.is_set():
                clear = fmt.clear_messages(self._retained) if clear_retained else []
                for message in [*clear, fmt.status_message(self.cfg, online=False)]:
                    info = client.publish(message.topic, message.payload, qos=message.qos,
                                          retain=message.retain)
                    try:
                        info.wait_for_publish(timeout=2.0)
                    except (RuntimeError, ValueError) as exc:
                        log.info("MQTT %s not confirmed: %s", message.topic, exc)
            client.disconnect()
            client.loop_stop()
            sock = client.socket()  # a reconnect racing with loop_stop can leave one open
            if sock is not None:
                sock.close()
        self.connected.clear()
        with self._lock:
            self.counters["dropped_disconnected"] += self._queue.qsize()
            self.counters["lost"] += len(self._pending)
            self._pending.clear()
            self._queue = queue.Queue(1)

    def reconfigure(self, cfg: MqttConfig) -> None:
        """Apply new settings: checked first (ConfigError leaves the sink as it was), then reconnect. The
        retained labels, counts and targets this sink left are removed unless the new settings retain them
        on the same topics of the same broker (retain turned off: a rebooting board gets no stale label)."""
        new, old = fmt.resolve(cfg), self.cfg
        where = ("host", "port", "preset", "prefix", "source")
        same = all(getattr(new, k) == getattr(old, k) for k in where)
        self.close(clear_retained=not (new.retain and same))
        self._configure(cfg)
        self.start()

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait (at most ``timeout_s``, default ``flush_timeout_s``) until every queued message has been
        handed to the broker and acknowledged; True when nothing is left. For the end of a run, before
        :meth:`close` (which counts what is still unacknowledged as lost)."""
        wait_s = self.cfg.flush_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + wait_s
        done = self._queue.all_tasks_done
        with done:
            if not done.wait_for(lambda: self._queue.unfinished_tasks == 0, wait_s):
                return False
        with self._acked:
            return self._acked.wait_for(lambda: not self._pending, max(0.0, deadline - time.monotonic()))

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until connected or until an error is known (at most ``timeout_s``); True when connected."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.cfg.enabled:
            if self.connected.wait(0.05):
                return True
            if self.error:
                return False
        return self.connected.is_set()

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
            result, top = fmt.above(result, self._thresholds.get(source))
            label = self.policy.decide(source, top or self.cfg.empty_label, time.monotonic())
            self._seq[source] = self._seq.get(source, -1) + 1
            if label is None:
                self.counters["skipped"] += 1
                return
            fields = fmt.result_fields(source, frame, self._seq[source], extra)
            messages = discovery_messages(self.cfg, source, sorted(result.counts()), self._announced)
            messages += fmt.result_messages(self.cfg, result, label, fields, self._seen.get(source, set()))
            self._seen[source] = set(result.counts())  # a label gone now gets its one 0, then no more
            self._last[source] = messages
            self._kept[source] = [m for m in messages if m.retain]
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

    def publish_stats(self, stats: dict[str, Any], *, source: str) -> None:
        """Queue an analytics snapshot (people-counter: ``person`` {count, total}, per the policy)."""
        source = self.cfg.source or source
        messages = fmt.stats_messages(self.cfg, stats, source)
        with self._lock:
            if source in self._paused_sources:
                self.counters["paused"] += len(messages)
                return
            keep = [m for m in messages if self.policy.decide_value(m.topic, m.payload, time.monotonic())]
            self.counters["skipped"] += len(messages) - len(keep)
        self._enqueue(keep)

    def publish_event(self, event: dict[str, Any], *, source: str) -> None:
        """Queue an analytics event (people-counter: ``person/duration`` when a person leaves)."""
        source = self.cfg.source or source
        messages = fmt.event_messages(self.cfg, event, source)
        with self._lock:
            if source in self._paused_sources:
                self.counters["paused"] += len(messages)
                return
        self._enqueue(messages)

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
                "error_code": self.error_code,
                "broker": f"{self.cfg.host}:{self.cfg.port}", "client_id": self._client_id,
                "dropped": dropped, "queued": self._queue.qsize(), **counters,
                "last_message": self.last_message, "commands_available": sorted(self.command_names())}

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
        # Not under self._lock: paho calls on_publish holding its own locks (lock-order inversion otherwise).
        info = client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
        with self._acked:
            if info.rc != paho.MQTT_ERR_SUCCESS:
                key = "dropped_disconnected" if info.rc == paho.MQTT_ERR_NO_CONN else "dropped_error"
                self.counters[key] += 1
                return
            self.counters["handed"] += 1
            if fmt.clearable(self.cfg, message):
                self._retained.add(message.topic)
            if self._early.pop(info.mid, None) is not None:  # acknowledged before publish() returned
                self.counters["sent"] += 1
                self._acked.notify_all()
            else:
                self._pending.add(info.mid)
        text = message.payload[:PAYLOAD_PREVIEW].decode("utf-8", "replace")
        self.last_message = {"topic": message.topic, "payload": text, "time": round(time.time(), 3)}

    def _on_publish(self, _c: paho.Client, _u: Any, mid: int, _reason: Any, _p: Any) -> None:
        """paho: a QoS 1 message was acknowledged (QoS 0: written to the connection)."""
        with self._acked:
            if mid in self._pending:
                self._pending.discard(mid)
                self.counters["sent"] += 1
                self._acked.notify_all()
            else:  # acknowledged before _send registered it — or a status/reply, which is not counted
                now = time.monotonic()
                self._early = {m: t for m, t in self._early.items() if now - t < EARLY_KEEP_S}
                self._early[mid] = now

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.error = f"the broker at {self.cfg.host}:{self.cfg.port} refused the login: {reason}"
            self.error_code = "login_refused"
            self.connected.clear()
            log.warning("MQTT: %s", self.error)
            return
        online = fmt.status_message(self.cfg, online=True)
        client.publish(online.topic, online.payload, qos=online.qos, retain=online.retain)
        client.subscribe(fmt.command_filter(self.cfg), qos=1)
        self.error = self.error_code = ""
        again, self._was_connected = self._was_connected, True
        if again:  # the broker may have restarted and lost what it retained (boards read the state from it)
            with self._lock:
                kept = [m for messages in self._kept.values() for m in messages]
            self._enqueue(kept)
        self.connected.set()
        log.info("MQTT connected to %s:%s", self.cfg.host, self.cfg.port)

    def _on_connect_fail(self, _client: paho.Client, _u: Any) -> None:
        self.connected.clear()
        self.commands_ready.clear()
        reason = (tcp_connect(self.cfg.host, self.cfg.port)  # paho does not pass the reason
                  or "the TCP connection works but the MQTT handshake failed (is it an MQTT broker?)")
        self.error = f"cannot reach {self.cfg.host}:{self.cfg.port}: {reason}"
        self.error_code = "unreachable"
        log.info("MQTT: %s (retrying with backoff)", self.error)

    def _on_disconnect(self, _client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        self.commands_ready.clear()
        if not self._stopping.is_set() and was_connected:
            self.error = f"lost the connection to {self.cfg.host}:{self.cfg.port}: {reason}"
            self.error_code = "connection_lost"
            log.warning("MQTT: %s (reconnecting)", self.error)

    def add_command_handler(self, name: str, handler: CommandHandler) -> None:
        """Let a channel act on command ``name``: ``handler(source, command)`` returns extra reply fields."""
        self._handlers[name] = handler

    def command_names(self) -> set[str]:
        return {"pause", "resume", "snapshot", "set_threshold", *self._handlers}

    def _on_message(self, client: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        source = fmt.command_source(self.cfg, msg.topic)
        if source is None:
            return
        reply = answer_command(bytes(msg.payload), lambda command: self._run(source, command))
        with self._lock:
            self.counters["commands"] += 1
            self.counters["bad_commands"] += not reply["ok"]
        if not reply["ok"]:
            log.info("MQTT command on %s rejected: %s", msg.topic, reply["message"])
        answer = fmt.reply_message(self.cfg, source, reply)
        client.publish(answer.topic, answer.payload, qos=answer.qos, retain=answer.retain)

    def _run(self, source: str, command: dict[str, Any]) -> dict[str, Any] | None:
        name = command["cmd"]
        if name in ("pause", "resume", "set_threshold") and name not in self._handlers:
            with self._lock:
                if name == "set_threshold":
                    self._thresholds[source] = float(command["conf"])
                else:
                    (self._paused_sources.add if name == "pause" else self._paused_sources.discard)(source)
                state = {"paused": source in self._paused_sources, "threshold": self._thresholds.get(source)}
            self._enqueue([fmt.state_message(self.cfg, source, state)])
            return state
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

