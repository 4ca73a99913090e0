"""The embedded MQTT broker: amqtt (MIT, pure Python) corrected where it breaks MQTT 3.1.1. I/O: sockets.

Used when Mosquitto is not installed (or ``broker.kind = "embedded"``). :func:`start_embedded` runs it on its
own asyncio loop in a thread and returns the function that stops it. What this module changes in amqtt
0.12.1, each checked by tests/integration/test_broker_conformance.py against Mosquitto:

* retained messages go only to a client's own matching subscriptions (amqtt sent every retained message
  matching *any* client's subscription to each new client);
* a CONNECT with a client id already connected closes the older connection (amqtt left it connected and
  silently starved when the newcomer had a clean session);
* keepalive is enforced at 1.5 × the client's value [MQTT-3.1.2-24] (amqtt waited 1 ×);
* an MQTT 5 CONNECT is answered with a version-5 CONNACK, reason 0x84 "unsupported protocol version", then
  closed (amqtt misparsed it and left the client waiting);
* a PUBLISH whose payload exceeds ``max_message_bytes`` is not forwarded (as Mosquitto's
  ``message_size_limit``), and counted; amqtt still reads it into memory first;
* each subscriber has at most ``MAX_INFLIGHT`` deliveries pending; further messages to it are dropped and
  counted (amqtt queued without bound behind a subscriber that stopped reading);
* publishing and subscribing follow :mod:`visioncast.broker_acl` (role of the login).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import math
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visioncast.broker_acl import Login, matches, permits
from visioncast.errors import ConfigError

try:  # amqtt is a declared dependency; the plugin classes must exist before the broker loads them by name
    from amqtt.broker import Broker as _AmqttBroker
    from amqtt.contexts import Action
    from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError("the embedded broker needs amqtt: pip install 'amqtt>=0.11'") from exc

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 3.0
MAX_INFLIGHT = 1000
KEEPALIVE_FACTOR = 1.5
_CONNACK_V5_UNSUPPORTED = bytes([0x20, 0x03, 0x00, 0x84, 0x00])


class PasswordAuthPlugin(BaseAuthPlugin):
    """amqtt auth plugin: a fixed user → password table (constant-time compare); anonymous when allowed."""

    @dataclass
    class Config:
        users: dict[str, str] = field(default_factory=dict)
        allow_anonymous: bool = False

    async def authenticate(self, *, session: Any) -> bool:
        if not session.username:
            return bool(self.config.allow_anonymous)
        expected = self.config.users.get(session.username)
        given = (session.password or "").encode("utf-8")  # compare_digest refuses non-ASCII str (中文)
        return expected is not None and hmac.compare_digest(expected.encode("utf-8"), given)


class RoleTopicPlugin(BaseTopicPlugin):
    """amqtt topic plugin: :func:`visioncast.broker_acl.permits` for each publish and subscribe."""

    @dataclass
    class Config:
        roles: dict[str, str] = field(default_factory=dict)
        anonymous_role: str = ""
        command_filter: str = "visioncast/+/cmd"

    async def topic_filtering(self, *, session: Any = None, topic: str | None = None,
                              action: Any = None) -> bool:
        if session is None or topic is None or action == Action.RECEIVE:
            return True
        role = self.config.roles.get(session.username or "") or self.config.anonymous_role or None
        return permits(role, topic, self.config.command_filter, publish=action == Action.PUBLISH)


class _Broker(_AmqttBroker):
    """amqtt's Broker with the corrections listed in the module docstring."""

    def __init__(self, *args: Any, max_message_bytes: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: set[Any] = set()
        self._tasks: set[asyncio.Future[Any]] = set()  # background tasks, referenced until done
        self.max_message_bytes = max_message_bytes
        self.drops: Counter[str] = Counter()
        self._inflight: Counter[str] = Counter()

    # ---- connections ----------------------------------------------------------------------------------
    async def stream_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                               listener_name: str) -> None:
        self._connections.add(writer)
        try:
            reader = await self._refuse_mqtt5(reader, writer)
            await super().stream_connected(reader, writer, listener_name)
        except (ConnectionError, asyncio.TimeoutError) as exc:  # refused MQTT 5, or silent since connecting
            log.debug("MQTT connection ended: %r", exc)
        finally:
            self._connections.discard(writer)
            writer.close()  # amqtt leaves it open when a session fails to start

    async def _refuse_mqtt5(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> asyncio.StreamReader:
        """Read the first packet's head; answer an MQTT 5 CONNECT with reason 0x84 and close. Otherwise a
        reader that yields the bytes read so far, then the rest of the stream."""
        head = await asyncio.wait_for(reader.read(16), START_TIMEOUT_S)
        level_at = _protocol_level_offset(head)
        if level_at is not None and head[level_at] == 5:
            writer.write(_CONNACK_V5_UNSUPPORTED)
            await writer.drain()
            raise ConnectionError("MQTT 5 CONNECT refused: only MQTT 3.1.1 is supported")
        joined = asyncio.StreamReader()
        joined.feed_data(head)

        async def pump() -> None:
            while chunk := await reader.read(65536):
                joined.feed_data(chunk)
            joined.feed_eof()

        def ended(task: asyncio.Future[None]) -> None:
            if not task.cancelled() and task.exception() is not None:  # connection reset: the stream ends
                joined.feed_eof()

        task = asyncio.ensure_future(pump())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(ended)
        return joined

    async def ws_connected(self, websocket: Any, listener_name: str) -> None:
        self._connections.add(websocket)
        try:
            await super().ws_connected(websocket, listener_name)
        finally:
            self._connections.discard(websocket)

    async def _initialize_client_session(self, *args: Any, **kwargs: Any) -> Any:
        handler, session = await super()._initialize_client_session(*args, **kwargs)
        if session.keep_alive > 0:  # [MQTT-3.1.2-24]: one and a half times the keepalive
            session.keep_alive = math.ceil(session.keep_alive * KEEPALIVE_FACTOR)

        def timed_out() -> None:  # amqtt's broker handler ignores the read timeout: close as a lost client
            log.info("client %s silent for %s s: closing it", session.client_id, session.keep_alive)
            closing = asyncio.ensure_future(handler.handle_connection_closed())
            self._tasks.add(closing)
            closing.add_done_callback(self._tasks.discard)

        handler.handle_read_timeout = timed_out
        return handler, session

    async def _delete_session(self, client_id: str) -> None:
        old = self._sessions.get(client_id)
        if old is not None and old[0].transitions.is_connected():
            log.info("client id %r connected again: closing its older connection", client_id)
            with contextlib.suppress(Exception):  # the old connection may already be half gone
                await old[1].handle_connection_closed()
                await old[1].stop()
        await super()._delete_session(client_id)

    # ---- messages -----------------------------------------------------------------------------------------
    async def _handle_message_delivery(self, client_session: Any, handler: Any,
                                       wait_deliver: asyncio.Future[Any]) -> bool:
        message = wait_deliver.result()
        if message is not None and self.max_message_bytes and len(message.data) > self.max_message_bytes:
            self.drops["too_large"] += 1
            log.info("dropped a %d-byte message from %s on %r (limit %d bytes)", len(message.data),
                     client_session.client_id, message.topic, self.max_message_bytes)
            return True
        return bool(await super()._handle_message_delivery(client_session, handler, wait_deliver))

    async def _publish_retained_messages_for_subscription(self, subscription: tuple[str, int],
                                                          session: Any) -> None:
        holders = self._subscriptions.get(subscription[0], [])
        if any(held is session for held, _ in holders):  # only the client's own subscriptions
            await super()._publish_retained_messages_for_subscription(subscription, session)

    async def _run_broadcast(self, running_tasks: Any) -> None:
        broadcast = await self._broadcast_queue.get()
        for topic_filter, subscriptions in list(self._subscriptions.items()):
            if not matches(broadcast["topic"], topic_filter):
                continue
            for target, sub_qos in subscriptions:
                qos = min(broadcast.get("qos", sub_qos) or 0, sub_qos)
                if target.transitions.state != "connected":
                    if not target.clean_session and qos > 0 and not target.is_anonymous:
                        await self._retain_broadcast_message(broadcast, qos, target)
                    continue
                handler = self._get_handler(target)
                if handler is not None:
                    self._deliver(running_tasks, handler, target.client_id, broadcast, qos)

    def _deliver(self, running_tasks: Any, handler: Any, client_id: str, broadcast: dict[str, Any],
                 qos: int) -> None:
        if self._inflight[client_id] >= MAX_INFLIGHT:
            self.drops["slow_subscriber"] += 1
            return
        self._inflight[client_id] += 1
        task = asyncio.ensure_future(handler.mqtt_publish(broadcast["topic"], broadcast["data"], qos,
                                                          retain=False))
        task.add_done_callback(lambda _t: self._inflight.subtract([client_id]))
        running_tasks.append(task)

    async def shutdown(self) -> None:
        # Close the clients first: amqtt's own shutdown can wait forever on a client's reader task.
        for conn in list(self._connections):
            result = conn.close()
            if asyncio.iscoroutine(result):  # a WebSocket closes with a handshake
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(result, 1.0)
        await asyncio.sleep(0.05)  # transports close their sockets in a callback of the next loop turn
        try:
            await asyncio.wait_for(super().shutdown(), SHUTDOWN_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("the embedded broker did not shut down within %s s; stopping anyway",
                        SHUTDOWN_TIMEOUT_S)


def _protocol_level_offset(head: bytes) -> int | None:
    """Index of the protocol level byte when ``head`` starts a CONNECT named 'MQTT', else None."""
    if not head or head[0] != 0x10:
        return None
    i = 1
    while i < len(head) and head[i] & 0x80 and i < 5:
        i += 1
    name_at = i + 1
    if head[name_at: name_at + 6] != b"\x00\x04MQTT" or len(head) <= name_at + 6:
        return None
    return name_at + 6


@dataclass
class EmbeddedSettings:
    """What the embedded broker needs: listeners, logins and their roles, limits."""

    host: str
    port: int
    ws_port: int
    logins: list[Login]
    anonymous: bool
    command_filter: str
    max_message_bytes: int
    tls: tuple[int, Path, Path] | None = None  # (port, certificate, key)


def amqtt_config(s: EmbeddedSettings) -> dict[str, Any]:
    listeners: dict[str, Any] = {"default": {"type": "tcp", "bind": f"{s.host}:{s.port}"}}
    if s.ws_port:
        listeners["ws"] = {"type": "ws", "bind": f"{s.host}:{s.ws_port}"}
    if s.tls:
        listeners["tls"] = {"type": "tcp", "bind": f"{s.host}:{s.tls[0]}", "ssl": True,
                            "certfile": str(s.tls[1]), "keyfile": str(s.tls[2])}
    auth = f"{__name__}.{PasswordAuthPlugin.__name__}"
    topics = f"{__name__}.{RoleTopicPlugin.__name__}"
    return {"listeners": listeners, "plugins": {
        auth: {"users": {lg.username: lg.password for lg in s.logins}, "allow_anonymous": s.anonymous},
        topics: {"roles": {lg.username: lg.role for lg in s.logins},
                 "anonymous_role": "board" if s.anonymous else "", "command_filter": s.command_filter},
    }}


def start_embedded(settings: EmbeddedSettings) -> tuple[Callable[[], None], Callable[[], dict[str, int]]]:
    """Run the broker on a new loop in a thread: (stop, drops) — stop() stops it and joins the thread,
    drops() counts what it refused to forward (too_large, slow_subscriber)."""
    started = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        state["loop"], state["stop"] = asyncio.get_running_loop(), stop
        broker = _Broker(amqtt_config(settings), loop=state["loop"],
                         max_message_bytes=settings.max_message_bytes)
        state["broker"] = broker
        try:
            await broker.start()
        except Exception as exc:  # noqa: BLE001 - amqtt wraps everything in BrokerError; reported to the caller
            state["error"] = exc
            started.set()
            return
        started.set()
        await stop.wait()
        await broker.shutdown()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="visioncast-broker", daemon=True)
    thread.start()
    if not started.wait(START_TIMEOUT_S) or "error" in state:
        thread.join(START_TIMEOUT_S)
        raise ConfigError(f"the embedded MQTT broker did not start: {state.get('error', 'timed out')}")

    def stop() -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed
            state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(START_TIMEOUT_S)

    return stop, lambda: dict(state["broker"].drops)
