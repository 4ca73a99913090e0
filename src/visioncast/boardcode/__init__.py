"""Board programs made ready to flash: the package's board programs (``visioncast/boards/``, the programs of
examples/) with a class's broker address, login, topic, Wi-Fi and label → action table filled in.

Pure apart from reading the templates. An action is an LED colour, a servo angle and a text per label
(:mod:`~visioncast.boardcode.actions`); each language writes them in its own literal syntax: Python
(:mod:`~visioncast.boardcode.python`, MicroPython and the UNIHIKER M10), C++
(:mod:`~visioncast.boardcode.arduino`) and MakeCode JavaScript (:mod:`~visioncast.boardcode.makecode`,
which also decides what the micro:bit's 5×5 screen shows for a label). :mod:`~visioncast.boardcode.push`
finds the topic, the messages and the broker of the server's push. :func:`generate` is the one entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

from visioncast.boardcode.actions import (
    ACTION_KEYS,
    COLOURS,
    MAX_ACTION_TEXT,
    OFF_ACTION,
    PALETTE,
    RGB,
    Action,
    action_from,
    as_sent,
    default_colours,
    parse_angle,
    parse_colour,
    parse_text,
)
from visioncast.boardcode.arduino import fill_arduino
from visioncast.boardcode.literal import cpp_string, quoted
from visioncast.boardcode.makecode import Shown, fill_makecode, microbit_shows
from visioncast.boardcode.push import (
    DEFAULT_SOURCE,
    label_topic,
    pushed_actions,
)
from visioncast.boardcode.python import fill_micropython, fill_python, fill_unihiker
from visioncast.boardcode.settings import (
    BOARDS,
    MAX_LABELS,
    MAX_TEXT,
    SERVO_PINS,
    TEMPLATES,
    BoardSettings,
    check_settings,
)

__all__ = [
    "ACTION_KEYS", "BOARDS", "COLOURS", "DEFAULT_SOURCE", "MAX_ACTION_TEXT", "MAX_LABELS", "MAX_TEXT",
    "OFF_ACTION", "PALETTE", "RGB", "SERVO_PINS", "TEMPLATES", "Action", "BoardSettings",
    "Shown", "action_from", "as_sent", "cpp_string", "default_colours", "fill_python",
    "generate", "label_topic", "microbit_shows", "parse_angle", "parse_colour", "parse_text",
    "pushed_actions", "quoted",
]

_FILLERS: dict[str, Callable[[str, BoardSettings], str]] = {
    "micropython": fill_micropython, "unihiker-m10": fill_unihiker, "esp32-arduino": fill_arduino,
    "microbit-obloq": fill_makecode,
}


def generate(board: str, settings: BoardSettings) -> tuple[str, str]:
    """(file name, program text) of ``board``'s program with ``settings`` filled in. InputError for an
    unknown board, no labels, too many, a bad action, an empty or too long text or a servo pin the board
    cannot use."""
    check_settings(board, settings)
    template, file_name = TEMPLATES[board]
    path = resources.files("visioncast") / "boards"
    for part in template.split("/"):  # one part at a time: Python 3.10's Traversable.joinpath takes one
        path = path / part
    source = path.read_text(encoding="utf-8")
    return file_name, _FILLERS[board](source, settings)
