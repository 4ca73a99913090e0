"""What a check of `visioncast doctor` is and how it speaks: a :class:`Line` (✓, ✗ or a hint, with what
to do), the :class:`Setup` every check reads (the config, the address the classroom needs, the language, the
broker port serve would use), the system's language, and printing with marks the terminal can show. I/O: the
broker port check (sockets) when a check first asks for it; printing.
"""

from __future__ import annotations

import dataclasses
import functools
import locale
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from visioncast.broker import logins
from visioncast.broker import port as broker_port
from visioncast.broker.acl import Login
from visioncast.broker.port import PortCheck
from visioncast.config import BrokerConfig, Config
from visioncast.server.i18n import translate

MARKS = {True: "✓", False: "✗", None: "·"}
ASCII_MARKS = {True: "[ok]", False: "[!!]", None: "[..]"}



@dataclass(frozen=True)
class Line:
    """One check: ``ok`` (None: a hint), its text and what to do (both translated)."""

    ok: bool | None
    text: str
    fix: str = ""


@dataclass(frozen=True)
class Setup:
    """What is checked: the config (ports, data dir, models), the listening address the classroom needs
    (every network unless a LAN address was given), the LAN address phones and boards use, the language."""

    config: Config
    host: str
    lan: str
    lang: str

    def say(self, ok: bool | None, key: str, fix: str = "", /, **values: Any) -> Line:
        return Line(ok, translate(self.lang, f"doctor.{key}", values),
                    translate(self.lang, f"doctor.{fix}", values) if fix else "")

    @functools.cached_property
    def broker_choice(self) -> tuple[PortCheck, PortCheck]:
        """(the configured MQTT port's check, the port serve will use): broker_port.choose_port."""
        return broker_port.choose_broker_port(self.broker, self.logins)

    @property
    def broker(self) -> BrokerConfig:
        return dataclasses.replace(self.config.broker, host=self.host)

    @functools.cached_property
    def logins(self) -> list[Login]:
        return logins(self.broker, Path(self.config.data_dir))

    @property
    def web_url(self) -> str:
        scheme = "https" if self.config.server.https(self.host) else "http"
        return f"{scheme}://{self.lan or '127.0.0.1'}:{self.config.server.port}/"


def system_lang(env: dict[str, str] | None = None) -> str:
    """zh when the system speaks Chinese (LC_ALL, LC_MESSAGES, LANG, or Windows' locale), else en."""
    env = dict(os.environ) if env is None else env
    names = [env.get(k, "") for k in ("LC_ALL", "LC_MESSAGES", "LANG")]
    names.append(locale.getlocale()[0] or "")
    first = next((n for n in names if n and n not in ("C", "POSIX")), "")
    return "zh" if first.lower().startswith(("zh", "chinese")) else "en"


def marks_for(out: TextIO) -> tuple[dict[bool | None, str], str]:
    """The marks and the arrow ``out`` can show: ✓ ✗ · →, or ASCII (a Windows console in GBK, a pipe)."""
    try:
        "✓✗·→".encode(getattr(out, "encoding", None) or "utf-8")  # no encoding: text kept in memory
    except (UnicodeEncodeError, LookupError):
        return ASCII_MARKS, "->"
    return MARKS, "→"


def print_line(line: Line, out: TextIO) -> None:
    """``✓ text`` (``  → fix`` under it); ASCII marks where the terminal cannot show ✓."""
    marks, arrow = marks_for(out)
    print(f"{marks[line.ok]} {line.text}", file=out)
    if line.fix:
        print(f"    {arrow} {line.fix}", file=out)
    out.flush()
