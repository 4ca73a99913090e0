"""examples/boards/unihiker_m10.py on this computer: the real paho-mqtt, stand-ins for the M10's libraries.

:class:`M10` loads the program (or another one, e.g. one ``visioncast board-code`` generated) with stand-ins
for ``pinpong.board`` (``Board().begin()``, pins that record ``write_digital`` / ``write_analog``, a ``Servo``
whose every turn is recorded) and ``unihiker`` (a GUI whose text the test reads); everything else, paho
included, is the real thing. ``start()`` runs ``main()`` in a thread, ``stop()`` asks it to end.
"""

from __future__ import annotations

import builtins
import io
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.boards.micropython import load_with

PROGRAM = Path(__file__).resolve().parents[2] / "src" / "visioncast" / "boards" / "unihiker_m10.py"
WAIT_S = 10.0


class M10:
    """The M10 program on stand-ins; ``settings`` override its settings (names as in the file)."""

    def __init__(self, *, program: Path = PROGRAM, **settings: Any) -> None:
        self.digital: dict[int, int] = {}
        self.analog: dict[int, int] = {}
        self.servo: dict[int, int] = {}  # pin → the angle its pinpong Servo was last turned to
        self.turns: list[tuple[int, int]] = []  # every (pin, angle) a Servo was turned to, in order
        self.text = ""
        self.output = io.StringIO()
        self._modules = self._stand_ins()
        self.program = load_with("unihiker_m10", program, self._import, self._print)
        for name, value in settings.items():
            if not hasattr(self.program, name):
                raise AttributeError(f"the M10 program has no setting {name}")
            setattr(self.program, name, value)
        self._thread: threading.Thread | None = None

    @property
    def status_led(self) -> int:
        return self.digital.get(25, 0)

    @property
    def rgb(self) -> tuple[int, ...]:
        return tuple(self.analog.get(p, 0) for p in (21, 22, 23))

    def log(self) -> str:
        return self.output.getvalue()

    def wait_until(self, what: str, predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise TimeoutError(f"{what}: not within {timeout_s} s (LED {self.status_led}, RGB {self.rgb}, screen "
                           f"{self.text!r})\n{self.output.getvalue()[-2000:]}")

    def start(self) -> M10:
        self._thread = threading.Thread(target=self.program.main, name="unihiker-m10", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.program.stop()
        if self._thread is not None:
            self._thread.join(WAIT_S)

    def __enter__(self) -> M10:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _stand_ins(self) -> dict[str, Any]:
        m10 = self

        class Pin:
            OUT, PWM = "out", "pwm"
            P0, P2, P3, P8, P9, P10, P16, P21, P22, P23, P25 = 0, 2, 3, 8, 9, 10, 16, 21, 22, 23, 25

            def __init__(self, number: int, mode: str = "") -> None:
                self.number, self.mode = number, mode

            def write_digital(self, value: int) -> None:
                m10.digital[self.number] = value

            def write_analog(self, value: int) -> None:
                m10.analog[self.number] = value

        class Servo:
            def __init__(self, pin: Pin) -> None:
                self.pin = pin

            def angle(self, value: int) -> None:
                m10.servo[self.pin.number] = value
                m10.turns.append((self.pin.number, value))

        class Text:
            def config(self, text: str) -> None:
                m10.text = text

        board = types.SimpleNamespace(Board=lambda *_: types.SimpleNamespace(begin=lambda: None), Pin=Pin,
                                      Servo=Servo)
        unihiker = types.SimpleNamespace(GUI=lambda: types.SimpleNamespace(draw_text=lambda **_: Text()))
        return {"pinpong.board": board, "pinpong": types.SimpleNamespace(board=board), "unihiker": unihiker}

    def _import(self, name: str, globals_: Any = None, locals_: Any = None, fromlist: Any = (),
                level: int = 0) -> Any:
        if name in self._modules:
            return self._modules[name if fromlist else name.split(".", maxsplit=1)[0]]
        return builtins.__import__(name, globals_, locals_, fromlist, level)

    def _print(self, *args: Any, **kwargs: Any) -> None:
        print(*args, file=self.output, **{k: v for k, v in kwargs.items() if k != "file"})
