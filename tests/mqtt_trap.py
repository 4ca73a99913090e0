"""A broker stand-in that records the login of every MQTT CONNECT it receives and refuses it (CONNACK 5).

Real brokers do not tell who sent which password; this peer does, so a test can show that a password was
never sent to a host. It speaks just enough MQTT 3.1.1 (paho's default) on a real socket.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field

WAIT_S = 10.0
NOT_AUTHORIZED = b"\x20\x02\x00\x05"


@dataclass
class Login:
    client_id: str
    username: str | None
    password: bytes | None
    raw: bytes


@dataclass
class CredentialTrap:
    """Listens on ``host`` (a free port); ``logins`` fills as clients try to connect."""

    host: str = "127.0.0.1"
    logins: list[Login] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.create_server((self.host, 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="credential-trap", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(WAIT_S)
                try:
                    self.logins.append(_parse_connect(_read_packet(conn)))
                    conn.sendall(NOT_AUTHORIZED)
                except (OSError, ValueError):
                    continue

    def wait_login(self, count: int = 1, timeout_s: float = WAIT_S) -> Login:
        deadline = time.monotonic() + timeout_s
        while len(self.logins) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no CONNECT #{count} on {self.host}:{self.port} within {timeout_s} s")
            time.sleep(0.02)
        return self.logins[count - 1]

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(WAIT_S)


def _read_packet(conn: socket.socket) -> bytes:
    head = conn.recv(1)
    if head != b"\x10":
        raise ValueError(f"not a CONNECT: {head!r}")
    length, shift = 0, 0
    while True:
        byte = conn.recv(1)[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    body = b""
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            raise ValueError("connection closed inside CONNECT")
        body += chunk
    return body


def _parse_connect(body: bytes) -> Login:
    pos = 2 + struct.unpack(">H", body[:2])[0] + 1  # protocol name, level
    flags = body[pos]
    pos += 3  # flags, keepalive

    def field_bytes() -> bytes:
        nonlocal pos
        size = struct.unpack(">H", body[pos:pos + 2])[0]
        value = body[pos + 2:pos + 2 + size]
        pos += 2 + size
        return value

    client_id = field_bytes().decode()
    if flags & 0x04:  # will topic and message
        field_bytes()
        field_bytes()
    username = field_bytes().decode() if flags & 0x80 else None
    password = field_bytes() if flags & 0x40 else None
    return Login(client_id, username, password, body)
