"""The embedded MQTT broker: amqtt (MIT, pure Python) corrected where it breaks MQTT 3.1.1. I/O: sockets.

Used when Mosquitto is not installed (or ``broker.kind = "embedded"``). ``embedded_run.start_embedded``
runs it on its own asyncio loop in a thread and returns the runner that stops it. What this module changes
in amqtt 0.12.1, each checked by tests/integration/test_broker_conformance.py against Mosquitto:

* retained messages go only to a client's own matching subscriptions (amqtt sent every retained message
  matching *any* client's subscription to each new client);
* every packet passes :mod:`visioncast.broker.gate` before amqtt reads it: a packet over
  ``max_packet_bytes`` or malformed closes the connection (counted; one log line per address and minute);
  at most ``max_connections`` connections;
* a CONNECT is checked before amqtt acts on it: a wrong login is refused before it can close a connection,
  a will on a topic the login may not write is dropped, the login accepted, as Mosquitto does (amqtt
  published it: a board could put a retained label on the server's topics), and a client id connected with
  another login is refused (only the same
  login takes it over: a CONNECT with a client id already connected closes the older connection, which
  amqtt left connected and silently starved when the newcomer had a clean session);
* keepalive is enforced at 1.5 × the client's value [MQTT-3.1.2-24] (amqtt waited 1 ×);
* an MQTT 5 CONNECT is answered with a version-5 CONNACK, reason 0x84 "unsupported protocol version", then
  closed (amqtt misparsed it and left the client waiting);
* a PUBLISH whose payload exceeds ``max_message_bytes`` is not forwarded (as Mosquitto's
  ``message_size_limit``), and counted;
* QoS 1 and 2 messages a client published and got acknowledged are forwarded even when it disconnects at
  once (amqtt dropped those not forwarded yet), and a persistent session gets the messages it did not
  acknowledge again when it comes back [MQTT-4.4.0-1] (amqtt forgot them);
* each subscriber has at most ``MAX_INFLIGHT`` deliveries pending, and a persistent session away at most
  ``MAX_INFLIGHT`` queued messages; further messages to it are dropped and counted (amqtt queued without bound
  behind a subscriber that stopped reading);
* a message goes to each subscription at most at the QoS it was published with (amqtt used the
  subscription's), messages queued for a persistent session are not marked retained, and a PUBLISH to a
  ``$`` topic is dropped, not answered by closing the connection (the Eclipse paho interoperability client
  test, tests/integration/test_broker_interop.py, passes as on Mosquitto);
* publishing and subscribing follow :mod:`visioncast.broker.acl` (role of the login).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from visioncast.broker.acl import matches, permits
from visioncast.broker.embedded_config import EmbeddedSettings, amqtt_config, login_role
from visioncast.broker.gate import (
    BadPacket,
    ByteSource,
    ConnectInfo,
    GatedReader,
    max_packet_bytes,
    parse_connect,
    read_packet,
)

try:  # amqtt is a declared dependency
    from amqtt.adapters import StreamReaderAdapter, WebSocketsReader, WebSocketsWriter
    from amqtt.broker import Broker as _AmqttBroker
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError("the embedded broker needs amqtt: pip install 'amqtt>=0.11'") from exc

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 3.0
MAX_INFLIGHT = 1000
KEEPALIVE_FACTOR = 1.5
REFUSAL_LOG_INTERVAL_S = 60.0
_PUBLISHED_QOS: contextvars.ContextVar[int | None] = contextvars.ContextVar("published_qos", default=None)
MAX_UNKNOWN_ACKS = 100
_CONNACK_V5_UNSUPPORTED = bytes([0x20, 0x03, 0x00, 0x84, 0x00])


class Broker(_AmqttBroker):
    """amqtt's Broker with the corrections listed in the module docstring."""

    def __init__(self, settings: EmbeddedSettings, **kwargs: Any) -> None:
        super().__init__(amqtt_config(settings), **kwargs)
        self.settings = settings
        self._connections: set[Any] = set()
        self._tasks: set[asyncio.Future[Any]] = set()  # background tasks, referenced until done
        self.max_message_bytes = settings.max_message_bytes
        self.drops: Counter[str] = Counter()
        self._inflight: Counter[str] = Counter()
        self._logged: dict[str, float] = {}  # address → when a refusal was last logged

    # ---- connections ----------------------------------------------------------------------------------
    async def stream_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                               listener_name: str) -> None:
        peer = str((writer.get_extra_info("peername") or ("?",))[0])

        async def reply(data: bytes) -> None:
            writer.write(data)
            await writer.drain()

        try:
            gated = await self._admit(writer, reader, peer, reply, writer.close)
            if gated is not None:
                await super().stream_connected(gated, writer, listener_name)
        except (ConnectionError, asyncio.TimeoutError) as exc:  # silent since connecting, or gone
            log.debug("MQTT connection ended: %r", exc)
        finally:
            self._connections.discard(writer)
            writer.close()  # amqtt leaves it open when a session fails to start

    async def ws_connected(self, websocket: Any, listener_name: str) -> None:
        peer = str((getattr(websocket, "remote_address", None) or ("?",))[0])

        def close() -> None:
            self._background(websocket.close())

        try:
            gated = await self._admit(websocket, _WebSocketBytes(websocket), peer, websocket.send, close)
            if gated is not None:
                await self._client_connected(listener_name, StreamReaderAdapter(gated),
                                             WebSocketsWriter(websocket))
        except (ConnectionError, asyncio.TimeoutError) as exc:
            log.debug("MQTT over WebSocket ended: %r", exc)
        finally:
            self._connections.discard(websocket)

    async def _admit(self, conn: Any, source: ByteSource, peer: str, reply: Callable[[bytes], Awaitable[Any]],
                     close: Callable[[], None]) -> GatedReader | None:
        """Count the connection; read and check its CONNECT (gate.py); answer the ones refused here and close.
        Otherwise the reader amqtt reads this connection through (the CONNECT first)."""
        if len(self._connections) >= self.settings.max_connections:
            self._refuse(peer, BadPacket("connection_limit", f"{len(self._connections)} connections open"))
            return None
        self._connections.add(conn)
        limit = max_packet_bytes(self.max_message_bytes)
        try:
            packet = await asyncio.wait_for(read_packet(source, limit, first=True), START_TIMEOUT_S)
            if packet is None:
                return None
            info = parse_connect(packet)
        except BadPacket as exc:
            self._refuse(peer, exc)
            return None
        code = self._connect_refusal(info)
        if code is not None:
            await reply(_CONNACK_V5_UNSUPPORTED if info.level == 5 else bytes([0x20, 0x02, 0x00, code]))
            return None

        def refuse(exc: BadPacket) -> None:
            self._refuse(peer, exc)
            close()

        return GatedReader(source, limit, packet, refuse)

    def _connect_refusal(self, info: ConnectInfo) -> int | None:
        """The CONNACK code refusing a CONNECT before amqtt acts on it, or None: MQTT 5 (answered with
        version 5's "unsupported protocol version"); a wrong login (amqtt would first close the connection of
        the client id it names); a client id connected with another login (only the same login may take a
        connection over). A will the login may not write is dropped when the session starts, as Mosquitto
        does (:meth:`_drop_forbidden_will`)."""
        if info.level == 5:
            return 0x84
        s = self.settings
        role = login_role(s.logins, s.anonymous, info.username, info.password)
        if role is None:
            log.info("refused a login as %r (client id %r)", info.username, info.client_id)
            return 0x05
        held = self._sessions.get(info.client_id)
        holder = held[0] if held is not None and held[0].transitions.is_connected() else None
        if holder is not None and (holder.username or "") != info.username:
            log.info("refused client id %r to %s: it is connected with another login", info.client_id,
                     info.username or "anonymous")
            return 0x02
        return None

    def _drop_forbidden_will(self, session: Any) -> None:
        """A will on a topic the session's login may not write never fires (Mosquitto drops it too, accepting
        the login: the same answer from both brokers)."""
        s = self.settings
        if not session.will_flag or session.will_topic is None:
            return
        role = login_role(s.logins, s.anonymous, session.username, session.password)
        if not permits(role, session.will_topic, s.command_filter, publish=True):
            log.info("client %r (%s): its will on %r is dropped, its login may not write there",
                     session.client_id, session.username or "anonymous", session.will_topic)
            session.will_flag, session.will_topic, session.will_message = False, None, None

    def _refuse(self, peer: str, exc: BadPacket) -> None:
        """Count a refused connection; one log line per address and minute at most."""
        self.drops[exc.kind] += 1
        now = time.monotonic()
        if now - self._logged.get(peer, -math.inf) >= REFUSAL_LOG_INTERVAL_S:
            if len(self._logged) > 1000:
                self._logged.clear()
            self._logged[peer] = now
            log.warning("closed an MQTT connection from %s: %s (%s; said once a minute per address)", peer,
                        exc, exc.kind)

    async def _initialize_client_session(self, *args: Any, **kwargs: Any) -> Any:
        handler, session = await super()._initialize_client_session(*args, **kwargs)
        self._drop_forbidden_will(session)
        if session.keep_alive > 0:  # [MQTT-3.1.2-24]: one and a half times the keepalive
            session.keep_alive = math.ceil(session.keep_alive * KEEPALIVE_FACTOR)

        def timed_out() -> None:  # amqtt's broker handler ignores the read timeout: close as a lost client
            log.info("client %s silent for %s s: closing it", session.client_id, session.keep_alive)
            self._background(handler.handle_connection_closed())

        handler.handle_read_timeout = timed_out
        self._count_unknown_acks(handler, str(args[2]) if len(args) > 2 else "?")
        return handler, session

    def _count_unknown_acks(self, handler: Any, peer: str) -> None:
        """Close a connection that acknowledges more than ``MAX_UNKNOWN_ACKS`` messages never sent to it (a
        stream out of step: amqtt logged a warning for each, 7.8 million lines from 300 MB)."""
        unknown = Counter[str]()
        kinds = (("handle_puback", "_puback_waiters"), ("handle_pubrec", "_pubrec_waiters"),
                 ("handle_pubrel", "_pubrel_waiters"), ("handle_pubcomp", "_pubcomp_waiters"))
        for method, waiters in kinds:
            original = getattr(handler, method)

            async def checked(packet: Any, original: Any = original, waiters: str = waiters) -> None:
                if packet.packet_id in getattr(handler, waiters):
                    await original(packet)
                    return
                unknown["acks"] += 1
                if unknown["acks"] == MAX_UNKNOWN_ACKS + 1:
                    self._refuse(peer, BadPacket("malformed", f"{MAX_UNKNOWN_ACKS} acknowledgements of "
                                                              "messages never sent"))
                    self._background(handler.handle_connection_closed())

            setattr(handler, method, checked)

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
        if message is not None and (message.topic or "").startswith("$"):  # [MQTT-4.7.2-1]: not forwarded to
            return True  # wildcards, and no client's to write; amqtt closed the connection
        token = _PUBLISHED_QOS.set(message.qos if message is not None else None)
        try:
            return bool(await super()._handle_message_delivery(client_session, handler, wait_deliver))
        finally:
            _PUBLISHED_QOS.reset(token)

    async def _broadcast_message(self, session: Any, topic: str | None, data: Any,
                                 force_qos: int | None = None) -> None:
        """amqtt forwarded a client's message at each subscription's QoS: at most the one it was published
        with [MQTT-3.3.5-1] (a will keeps its own)."""
        qos = force_qos if force_qos is not None else _PUBLISHED_QOS.get()
        await super()._broadcast_message(session, topic, data, qos)

    async def _publish_session_retained_messages(self, session: Any) -> None:
        """What a persistent session missed while away, as ordinary deliveries (amqtt marked them retained,
        against [MQTT-3.3.1-9], and forgot those the client did not acknowledge)."""
        handler = self._get_handler(session)
        while handler is not None and not session.retained_messages.empty():
            queued = session.retained_messages.get_nowait()
            broadcast = {"session": queued.source_session, "topic": queued.topic, "data": queued.data}
            self._deliver(self._tasks_queue, handler, session, broadcast, queued.qos or 0)

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
                    if target.clean_session or qos == 0 or target.is_anonymous:
                        continue
                    if target.retained_messages.qsize() >= MAX_INFLIGHT:  # as Mosquitto's max_queued_messages
                        self.drops["offline_queue_full"] += 1
                        continue
                    await self._retain_broadcast_message(broadcast, qos, target)
                    continue
                handler = self._get_handler(target)
                if handler is not None:
                    self._deliver(running_tasks, handler, target, broadcast, qos)

    def _deliver(self, running_tasks: Any, handler: Any, target: Any, broadcast: dict[str, Any],
                 qos: int) -> None:
        client_id = target.client_id
        if self._inflight[client_id] >= MAX_INFLIGHT:
            self.drops["slow_subscriber"] += 1
            return
        self._inflight[client_id] += 1
        task = asyncio.ensure_future(handler.mqtt_publish(broadcast["topic"], broadcast["data"], qos,
                                                          retain=False))

        def done(t: asyncio.Future[Any]) -> None:
            self._inflight.subtract([client_id])
            unacknowledged = t.cancelled() or t.exception() is not None
            if unacknowledged and qos > 0 and not target.clean_session:  # [MQTT-4.4.0-1]: sent again on
                self._background(self._retain_broadcast_message(broadcast, qos, target))  # reconnection

        task.add_done_callback(done)
        running_tasks.append(task)

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle_disconnect(self, client_session: Any, handler: Any,
                                 disconnect_waiter: asyncio.Future[Any]) -> None:
        """Forward what the client published before it went (amqtt dropped the messages it had already
        acknowledged but not yet forwarded), then amqtt's own (the will, the session's end)."""
        queue = client_session.delivered_message_queue
        waiting = []
        while not queue.empty():
            waiting.append(queue.get_nowait())
        for message in waiting:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            future.set_result(message)
            await self._handle_message_delivery(client_session, handler, future)
        await super()._handle_disconnect(client_session, handler, disconnect_waiter)

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


class _WebSocketBytes:
    """A WebSocket's MQTT bytes for the gate (amqtt's reader: each WebSocket message is at most 1 MiB, the
    websockets library's limit, and the gate reads at most one packet's worth past it)."""

    def __init__(self, websocket: Any) -> None:
        self._reader = WebSocketsReader(websocket)

    async def read(self, n: int = -1) -> bytes:
        return await self._reader.read(n)

    async def readexactly(self, n: int) -> bytes:
        data = await self._reader.read(n)
        if len(data) < n:
            raise asyncio.IncompleteReadError(data, n)
        return data
