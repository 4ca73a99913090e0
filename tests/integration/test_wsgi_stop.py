"""Stopping the HTTP server while uploads wait for a worker: each waiting upload's spooled body is closed
(its temporary file freed at once, not left to the garbage collector), the one being served finishes, and
nothing is left for the collector to warn about (a socket, a transport, an answer's task never run)."""

from __future__ import annotations

import gc
import socket
import threading
import time
from typing import Any

from visioncast.server.wsgi import HttpServer

WAIT_S = 10.0


def test_uploads_waiting_for_a_worker_are_freed_when_the_server_stops() -> None:
    release = threading.Event()
    served: list[int] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read()
        release.wait(WAIT_S)
        served.append(len(body))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = HttpServer(app, "127.0.0.1", 0, workers=1).start_in_thread()
    upload = b"x" * 300_000
    clients = []
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)
        sock.sendall(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(upload) + upload)
        clients.append(sock)
    deadline = time.monotonic() + WAIT_S
    while len(server._queued) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    waiting = [request for request, _ in server._queued.values()]
    assert len(waiting) == 3  # one with the worker, two waiting for it
    threading.Timer(0.3, release.set).start()
    server.stop()
    release.wait(WAIT_S)
    deadline = time.monotonic() + WAIT_S
    while not all(r.body.closed for r in waiting) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert all(r.body.closed for r in waiting)
    assert served[:1] == [len(upload)]
    for sock in clients:
        sock.close()
    gc.collect()  # a socket, transport or answer's task left to the collector would warn here (an error)
