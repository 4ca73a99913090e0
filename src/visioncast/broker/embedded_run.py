"""The embedded broker (:mod:`visioncast.broker.embedded`) on its own asyncio loop in a thread. I/O: a
thread, the broker's sockets."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from visioncast.broker.embedded import START_TIMEOUT_S, Broker
from visioncast.broker.embedded_config import EmbeddedSettings
from visioncast.errors import ConfigError


class EmbeddedRunner:
    """The embedded broker on its own asyncio loop in a thread (:func:`start_embedded`)."""

    restarts = 0  # it runs in this process: it stops only with it

    def __init__(self, thread: threading.Thread, state: dict[str, Any]) -> None:
        self._thread, self._state = thread, state

    def up(self) -> bool:
        """The broker's thread runs and amqtt says it is started (its listeners open)."""
        broker = self._state.get("broker")
        return self._thread.is_alive() and broker is not None and broker.transitions.state == "started"

    def drops(self) -> dict[str, int]:
        """What it refused, by reason: messages (too_large, slow_subscriber), connections (oversized,
        malformed, connection_limit)."""
        return dict(self._state["broker"].drops)

    def stop(self) -> None:
        """Stop it and join its thread."""
        with contextlib.suppress(RuntimeError):  # loop already closed
            self._state["loop"].call_soon_threadsafe(self._state["stop"].set)
        self._thread.join(START_TIMEOUT_S)


def start_embedded(settings: EmbeddedSettings) -> EmbeddedRunner:
    """Run the broker on a new loop in a thread; ConfigError when it does not start."""
    started = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        state["loop"], state["stop"] = asyncio.get_running_loop(), stop
        broker = Broker(settings, loop=state["loop"])
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
    return EmbeddedRunner(thread, state)
