"""A live server bound to every network for the attack tests (tests/integration/test_attacks*.py): the app
with the shipped models, a recording sink on its bus, on a free port, reached from this machine's LAN
address (a student) and from loopback (on a LAN server, one more student unless it holds the token)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from tests.integration.test_api_http import RecordingSink

from visioncast import config
from visioncast.network import lan_addresses
from visioncast.server.app import create_app
from visioncast.server.health import warm_up
from visioncast.server.wsgi import HttpServer

LAN = lan_addresses()[0]
TOKEN = "teacher-token-for-the-attack-tests"
TEACHER = {"Authorization": f"Bearer {TOKEN}"}
TIMEOUT_S = 10
DATA = Path(__file__).parents[1] / "data"


class Live:
    """The server, its app and data dir, what its bus published, and URLs as each client reaches it."""

    def __init__(self, server: HttpServer, app: Any, data: Path, sink: RecordingSink) -> None:
        self.server, self.app, self.data, self.sink = server, app, data, sink
        self.lan = f"http://{LAN}:{server.port}"
        self.local = f"http://127.0.0.1:{server.port}"

    def sources(self) -> list[str]:
        """The source names results were published under, in order."""
        return [source for _, source, _, _ in self.sink.published]


@contextlib.contextmanager
def live_server(data: Path, *, workers: int = 8, **overrides: Any) -> Iterator[Live]:
    """A server on 0.0.0.0 (free port) with the attack tests' settings plus ``overrides``."""
    settings = {"data_dir": str(data), "mqtt.enabled": False, "broker.enabled": False,
                "server.host": "0.0.0.0", "server.token": TOKEN, "streams.allow": [str(DATA / "*")],
                "videos.workers": 1, **overrides}
    app = create_app(config.load(env={}, overrides=settings))
    warm_up(app)
    sink = RecordingSink()
    app.extensions["visioncast"].bus.add(sink)
    server = HttpServer(app, "0.0.0.0", 0, workers=workers).start_in_thread()
    try:
        yield Live(server, app, data, sink)
    finally:
        server.stop()
        app.extensions["visioncast"].close()


def start_stream(live: Live, name: str, *, source: str = "vtest_clip.avi") -> dict[str, Any]:
    """The teacher starts a stream of a test clip (a folder: an image a second), published under ``name``."""
    body = {"source": str(DATA / source), "name": name, "realtime": True}
    answer = requests.post(f"{live.lan}/api/v1/streams", json=body, headers=TEACHER, timeout=TIMEOUT_S)
    assert answer.status_code == 201, answer.text[:300]
    return answer.json()  # type: ignore[no-any-return]


def refused(answer: requests.Response, status: int, error: str | None = None) -> dict[str, Any]:
    """The JSON of a refusal, checked for its status (and error code)."""
    assert answer.status_code == status, answer.text[:300]
    body = answer.json()
    if error is not None:
        assert body["error"] == error, body
    return body  # type: ignore[no-any-return]
