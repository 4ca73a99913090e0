"""Facts about this machine's network: its LAN addresses, who holds a TCP port, and what answers an MQTT
CONNECT. I/O: sockets (a bind to test a port, a TCP connect, one MQTT CONNECT/CONNACK exchange), and reading
what the OS tells about listeners (Linux ``/proc``, ``lsof`` on macOS and other Unixes, ``netstat`` on
Windows). Nothing here decides anything: :mod:`visioncast.broker.port` (the broker's port, the boards' login)
and ``visioncast doctor`` do.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ANY_HOSTS = ("0.0.0.0", "::", "")  # listen on every network
LOOPBACK = ("127.0.0.1", "localhost", "::1")  # the names a setting gives this machine by
IN_USE = "in use"
CONNACK_CODES = {0: "accepted", 1: "bad protocol version", 2: "client id rejected", 3: "server unavailable",
                 4: "bad user name or password", 5: "not authorized"}
_TOOL_TIMEOUT_S = 5.0


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for names and anything unparsable."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def lan_addresses(*, loopback: bool = True) -> list[str]:
    """IPv4 addresses of this machine that boards on the LAN can reach, the default route's first; no traffic.
    ``loopback`` adds 127.0.0.1 last, as a fallback for a machine without a network."""
    found: list[str] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))  # UDP connect sends nothing; it only selects the outgoing interface
        found.append(sock.getsockname()[0])
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(str(info[4][0]))
    addresses = [a for a in dict.fromkeys(found) if not a.startswith(("127.", "0."))]
    return [*addresses, "127.0.0.1"] if loopback else addresses


def board_address(host: str) -> str:
    """The address boards should connect to for a listener on ``host``: this machine's LAN address when it
    listens on every network (loopback when it has none), else ``host`` itself."""
    return lan_addresses()[0] if host in ANY_HOSTS else host


def local_address(host: str) -> str:
    """The address this machine connects to for a listener on ``host`` (loopback for every network)."""
    return "127.0.0.1" if host in ANY_HOSTS else host


def port_taken(host: str, port: int) -> str:
    """'' when TCP ``host:port`` can be listened on now, :data:`IN_USE` when a program listens there, else
    the OS's reason (no permission, not an address of this machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if os.name != "nt":  # on Windows SO_REUSEADDR would let the bind steal a listening port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            # Windows answers "access denied" for a port another program holds exclusively.
            held = exc.errno == errno.EADDRINUSE or (exc.errno == errno.EACCES and _answers(host, port))
            return IN_USE if held else exc.strerror or str(exc)
    # Windows and macOS let 0.0.0.0 be bound beside a listener on 127.0.0.1 only: a connect still finds it.
    return IN_USE if host in ANY_HOSTS and _answers("127.0.0.1", port) else ""


def _answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((local_address(host), port), timeout=0.5):
        return True
    return False


def port_owner(port: int) -> str:
    """Who listens on TCP ``port``, as far as this OS lets us tell: "'mosquitto' (pid 2980)", or a phrase."""
    if sys.platform.startswith("linux"):
        return _linux_owner(port)
    if os.name == "nt":
        return _windows_owner(port)
    return _lsof_owner(port)


def _linux_owner(port: int) -> str:
    inodes = _listening_inodes(port)
    if not inodes:
        return _lsof_owner(port)
    for pid in filter(str.isdigit, _listdir("/proc")):
        for fd in _listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    name = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
                    return f"'{name}' (pid {pid})"
    return "a program of another user (process not visible)"


def _listening_inodes(port: int) -> set[str]:
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text(encoding="ascii").splitlines()[1:]:
                cols = line.split()
                if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    found.add(cols[9])
    return found


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _tool_output(command: list[str]) -> str:
    """What ``command`` prints (decoded leniently: Windows tools print in the console's code page), or ''."""
    try:
        done = subprocess.run(command, capture_output=True, timeout=_TOOL_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.decode("utf-8", "replace")


def _lsof_owner(port: int) -> str:
    lsof = shutil.which("lsof") or next((p for p in ("/usr/sbin/lsof", "/usr/bin/lsof") if Path(p).is_file()),
                                        None)
    if lsof is None:
        return "another program"
    return parse_lsof(_tool_output([lsof, "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"]))


def parse_lsof(text: str) -> str:
    """The first process of ``lsof -F pc`` output (lines 'p<pid>' then 'c<command>')."""
    pid = next((ln[1:] for ln in text.splitlines() if ln.startswith("p")), "")
    name = next((ln[1:] for ln in text.splitlines() if ln.startswith("c")), "")
    return f"'{name}' (pid {pid})" if pid and name else "another program"


def _windows_owner(port: int) -> str:
    pid = parse_netstat(_tool_output(["netstat", "-ano", "-p", "TCP"]), port)
    if not pid:
        return "another program"
    listing = _tool_output(["tasklist", "/FI", f"PID eq {pid}", "/FO", "CSV", "/NH"])
    name = listing.split('","', 1)[0].strip().strip('"') if listing.startswith('"') else ""
    return f"'{name}' (pid {pid})" if name else f"pid {pid}"


def parse_netstat(text: str, port: int) -> str:
    """The pid listening on ``port`` in Windows ``netstat -ano`` output (columns: proto, local address,
    foreign address, state, pid; the state's name is translated on non-English Windows), or ''."""
    for line in text.splitlines():
        cols = line.split()
        if len(cols) == 5 and cols[0].upper() == "TCP" and re.search(rf"[:\]]{port}$", cols[1]) \
                and cols[2].endswith((":0", ":*")) and cols[4].isdigit():
            return cols[4]
    return ""


@dataclass(frozen=True)
class MqttAnswer:
    """What one MQTT 3.1.1 CONNECT got: ``code`` is the CONNACK's return code (0 = accepted; None when no MQTT
    answer came) and ``detail`` says it in words ("accepted", "bad user name or password", "connection
    refused", "got b'HTTP'", …)."""

    code: int | None
    detail: str

    @property
    def mqtt(self) -> bool:
        """An MQTT broker answered (whatever it said)."""
        return self.code is not None

    @property
    def accepted(self) -> bool:
        return self.code == 0


def mqtt_connect(host: str, port: int, user: str = "", password: str = "", *, source: str = "",
                 timeout_s: float = 2.0) -> MqttAnswer:
    """Send one MQTT 3.1.1 CONNECT to ``host:port`` (from the local address ``source`` when given, as a board
    on the LAN would arrive) and read the CONNACK; DISCONNECT when accepted."""
    flags, payload = 0x02, _mqtt_str("visioncast-check-" + secrets.token_hex(3))
    if user:
        flags |= 0x80 | (0x40 if password else 0)
        payload += _mqtt_str(user) + (_mqtt_str(password) if password else b"")
    body = _mqtt_str("MQTT") + bytes([4, flags, 0, 10]) + payload
    try:
        with socket.create_connection((host, port), timeout=timeout_s,
                                      source_address=(source, 0) if source else None) as sock:
            sock.sendall(bytes([0x10, len(body)]) + body)
            reply = _read(sock, 4)
            if len(reply) == 4 and reply[0] == 0x20:
                if reply[3] == 0:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"\xe0\x00")  # DISCONNECT
                return MqttAnswer(reply[3], CONNACK_CODES.get(reply[3], f"refused (code {reply[3]})"))
            return MqttAnswer(None, f"not MQTT: it answered {reply[:16]!r}" if reply
                              else "the connection closed without an answer")
    except TimeoutError:
        return MqttAnswer(None, f"no answer within {timeout_s:g} s (a firewall may drop it)")
    except OSError as exc:
        return MqttAnswer(None, exc.strerror or str(exc))


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _mqtt_str(text: str) -> bytes:
    data = text.encode("utf-8")
    return len(data).to_bytes(2, "big") + data


def tcp_connect(host: str, port: int, *, source: str = "", timeout_s: float = 2.0) -> str:
    """'' when a TCP connection to ``host:port`` (from ``source`` when given) opens, else why not, in plain
    words."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s,
                                      source_address=(source, 0) if source else None):
            return ""
    except socket.gaierror as exc:
        return f"unknown host name ({exc.strerror})"
    except ConnectionRefusedError:
        return "connection refused (nothing listens on that port)"
    except TimeoutError:
        return f"no answer within {timeout_s:g} s (a firewall may drop it)"
    except OSError as exc:
        return exc.strerror or str(exc)
