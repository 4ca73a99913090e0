"""MicroPython on CPython, just enough to run examples/mqtt_led_board.py with the real umqtt.simple.

The program is the package's copy (src/visioncast/boards/, which examples/ links to) unless one is given.

:class:`Board` loads the board program and one of the vendored releases of umqtt.simple (micropython-lib,
MIT; :data:`UMQTT`: 1.3.4, and 1.8.0 which ``mip install`` gives today) as fresh modules whose ``import``
sees small stand-ins instead of the MicroPython modules: ``machine`` (pins and PWM that record their
values, ``duty`` and ``duty_u16``, and every ``duty_u16`` set, a fixed unique id), optionally the K10's
``unihiker_k10.screen`` (``Board(k10=True)``: what it shows is ``board.screen.shown``), ``network`` (a
Wi-Fi that is always up), ``usocket`` / ``socket`` (a CPython socket with MicroPython's ``read``/``write``
stream methods), ``uselect``, ``ustruct``, ``ubinascii`` and ``time`` with ``sleep_ms``/``ticks_ms``/
``ticks_diff``. Each board has its own stand-ins, so a test can run several. ``Board.start()`` runs
``main()`` in a thread; ``Board.stop()`` powers the board off: the next
sleep or poll raises :class:`PoweredOff`, which the program cannot catch with ``except Exception``.
"""

from __future__ import annotations

import binascii
import builtins
import importlib.util
import io
import select
import socket
import struct
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "src" / "visioncast" / "boards" / "mqtt_led_board.py"
UMQTT = {version: Path(__file__).parent / f"umqtt_{version.replace('.', '_')}" / "simple.py"
         for version in ("1.3.4", "1.8.0")}  # release → the vendored simple.py
WAIT_S = 10.0


class PoweredOff(BaseException):
    """Raised inside the board's thread once the test stops it."""


class MicroSocket:
    """A CPython TCP socket with MicroPython's stream methods (read, write) as umqtt.simple uses them."""

    def __init__(self, board: Board) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._board = board
        board.sockets.append(self)

    def connect(self, addr: tuple[str, int]) -> None:
        self._sock.connect(addr)

    def settimeout(self, seconds: float | None) -> None:
        self._sock.settimeout(seconds)

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def fileno(self) -> int:
        return self._sock.fileno()

    def read(self, n: int) -> bytes | None:
        """Up to ``n`` bytes (fewer only at end of stream); None when non-blocking and nothing is there."""
        data = b""
        while len(data) < n:
            try:
                chunk = self._sock.recv(n - len(data))
            except BlockingIOError:
                if data:  # a packet began: wait for the rest, as MicroPython's stream read does
                    self._sock.settimeout(WAIT_S)
                    continue
                return None
            if not chunk:
                break
            data += chunk
        return data

    def write(self, buf: bytes | bytearray | str, n: int | None = None) -> int:
        data = buf.encode() if isinstance(buf, str) else bytes(buf)
        data = data if n is None else data[:n]
        self._sock.sendall(data)
        return len(data)

    def close(self) -> None:
        self._sock.close()


class Pin:
    OUT, IN = 1, 0

    def __init__(self, number: int, mode: int = -1, *, board: Board) -> None:
        self.number, self._value, self._board = number, 0, board
        board.pins[number] = self

    def value(self, v: int | None = None) -> int | None:
        if v is None:
            return self._value
        self._value = int(bool(v))
        return None


class PWM:
    """machine.PWM: ``duty`` (0–1023) and ``duty_u16`` (0–65535) as the ESP32 port has them, one duty."""

    def __init__(self, pin: Pin, freq: int = 1000, *, duty_u16: int | None = None, board: Board) -> None:
        self.pin, self.freq = pin, freq
        self._value, self._full = (duty_u16 or 0), 65535  # the duty last set, on its own scale
        self.duties_u16: list[int] = [] if duty_u16 is None else [duty_u16]  # every duty_u16 set, in order
        board.pwms.append(self)

    def _read(self, full: int) -> int:
        return self._value if full == self._full else round(self._value * full / self._full)

    def duty(self, d: int | None = None) -> int | None:
        if d is None:
            return self._read(1023)
        self._value, self._full = d, 1023
        return None

    def duty_u16(self, d: int | None = None) -> int | None:
        if d is None:
            return self._read(65535)
        self._value, self._full = d, 65535
        self.duties_u16.append(d)
        return None


class K10Screen:
    """The UNIHIKER K10's ``unihiker_k10.screen`` as DFRobot's examples use it: what ``show_draw`` put on the
    screen is ``shown``."""

    def __init__(self) -> None:
        self.shown: list[str] = []
        self._drawn: list[str] = []

    def init(self, dir: int = 2) -> None:
        self.shown = []

    def show_bg(self, color: int = 0) -> None:
        self._drawn = []

    def draw_text(self, text: str = "", **_where: Any) -> None:
        self._drawn.append(text)

    def show_draw(self) -> None:
        self.shown = list(self._drawn)


class Board:
    """The board program running on stand-ins; ``settings`` override its settings (names as in the file).
    ``program``: another MicroPython board program, e.g. one ``visioncast board-code`` generated; ``umqtt``:
    the release of umqtt.simple (a key of :data:`UMQTT`)."""

    def __init__(self, *, program: Path = PROGRAM, k10: bool = False, umqtt: str = "1.8.0",
                 **settings: Any) -> None:
        self.pins: dict[int, Pin] = {}
        self.pwms: list[PWM] = []
        self.sockets: list[MicroSocket] = []
        self.output = io.StringIO()
        self.screen = K10Screen() if k10 else None  # k10: the board has the K10's screen module
        self._off = threading.Event()
        self._modules = self._stand_ins()
        if self.screen is not None:
            self._modules["unihiker_k10"] = types.SimpleNamespace(screen=self.screen)
        self._modules["umqtt.simple"] = self._load("umqtt.simple", UMQTT[umqtt])
        self._modules["umqtt"] = types.SimpleNamespace(simple=self._modules["umqtt.simple"])
        self.program = self._load("mqtt_led_board", program)
        for name, value in settings.items():
            if not hasattr(self.program, name):
                raise AttributeError(f"the board program has no setting {name}")
            setattr(self.program, name, value)
        self._thread: threading.Thread | None = None
        self.crashed: BaseException | None = None

    # ---- what the test reads ------------------------------------------------------------------------
    @property
    def status_led(self) -> int:
        return int(self.pins[self.program.STATUS_PIN].value() or 0)

    @property
    def rgb(self) -> tuple[int, ...]:
        return tuple(round(int(p.duty() or 0) * 255 / 1023) for p in self.program.leds)

    def duty_u16_of(self, pin: int) -> int | None:
        """The duty_u16 of the PWM on ``pin`` (None: the program never made one there)."""
        pwms = [p for p in self.pwms if p.pin.number == pin]
        return None if not pwms else int(pwms[-1].duty_u16() or 0)

    def duties_u16_of(self, pin: int) -> list[int]:
        """Every duty_u16 set on ``pin``, in order (a servo's every turn)."""
        return [d for p in self.pwms if p.pin.number == pin for d in p.duties_u16]

    def log(self) -> str:
        return self.output.getvalue()

    def wait_until(self, what: str, predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.crashed is not None:
                raise AssertionError(f"the board program died: {self.crashed!r}\n{self.log()}")
            if predicate():
                return
            time.sleep(0.02)
        raise TimeoutError(f"{what}: not within {timeout_s} s (status LED {self.status_led}, RGB {self.rgb})"
                           f"\n--- board output ---\n{self.log()[-2000:]}")

    # ---- power --------------------------------------------------------------------------------------
    def start(self) -> Board:
        self._thread = threading.Thread(target=self._main, name="micropython-board", daemon=True)
        self._thread.start()
        return self

    def _main(self) -> None:
        try:
            self.program.main()
        except PoweredOff:
            return
        except BaseException as exc:  # noqa: BLE001 - recorded: the test fails on a board that died
            self.crashed = exc

    def stop(self) -> None:
        self._off.set()
        if self._thread is not None:
            self._thread.join(WAIT_S)
        for sock in self.sockets:
            sock.close()

    def __enter__(self) -> Board:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the stand-ins --------------------------------------------------------------------------------
    def _check_power(self) -> None:
        if self._off.is_set():
            raise PoweredOff

    def _stand_ins(self) -> dict[str, Any]:
        board = self

        def sleep_ms(ms: int) -> None:
            if board._off.wait(ms / 1000):
                raise PoweredOff

        class Poll:
            def __init__(self) -> None:
                self._poll = select.poll()

            def register(self, obj: Any, mask: int) -> None:
                self._poll.register(obj, mask)

            def poll(self, timeout_ms: int = -1) -> list[tuple[int, int]]:
                board._check_power()
                return self._poll.poll(timeout_ms)

        start = time.monotonic()
        utime = types.SimpleNamespace(
            sleep_ms=sleep_ms, sleep=lambda s: sleep_ms(int(s * 1000)),
            ticks_ms=lambda: int((time.monotonic() - start) * 1000), ticks_diff=lambda a, b: a - b)
        machine = types.SimpleNamespace(
            Pin=_bind(Pin, board), PWM=_bind(PWM, board), unique_id=lambda: bytes.fromhex("24a16057c3f0"))
        wlan = types.SimpleNamespace(active=lambda *_: True, isconnected=lambda: True,
                                     connect=lambda *_: None, ifconfig=lambda: ("127.0.0.1",) * 4)
        network = types.SimpleNamespace(STA_IF=0, WLAN=lambda _mode: wlan)
        usocket = types.SimpleNamespace(socket=lambda *_: MicroSocket(board), getaddrinfo=socket.getaddrinfo)
        uselect = types.SimpleNamespace(poll=Poll, POLLIN=select.POLLIN, POLLHUP=select.POLLHUP,
                                        POLLERR=select.POLLERR)
        return {"time": utime, "utime": utime, "machine": machine, "network": network, "usocket": usocket,
                "socket": usocket, "uselect": uselect, "ustruct": struct, "ubinascii": binascii}

    def _import(self, name: str, globals_: Any = None, locals_: Any = None, fromlist: Any = (),
                level: int = 0) -> Any:
        if name in self._modules:  # `import a.b` binds a; `from a.b import c` takes from a.b
            top = name if fromlist else name.split(".", maxsplit=1)[0]
            return self._modules[top]
        return builtins.__import__(name, globals_, locals_, fromlist, level)

    def _print(self, *args: Any, **kwargs: Any) -> None:
        """The board's serial console (what Thonny would show)."""
        print(*args, file=self.output, **{k: v for k, v in kwargs.items() if k != "file"})

    def _load(self, name: str, path: Path) -> types.ModuleType:
        return load_with(name, path, self._import, self._print)


def load_with(name: str, path: Path, importer: Callable[..., Any],
              printer: Callable[..., None]) -> types.ModuleType:
    """``path`` loaded as a fresh module whose ``import`` and ``print`` are ``importer`` and ``printer``."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    module.__dict__["__builtins__"] = {**vars(builtins), "__import__": importer, "print": printer}
    spec.loader.exec_module(module)
    return module


def _bind(cls: type, board: Board) -> Any:
    """The class as the board program sees it: constructing it registers the instance with ``board``."""
    return type(cls.__name__, (cls,), {"__init__": lambda self, *a, **k: cls.__init__(self, *a, board=board,
                                                                                        **k)})
