"""The micro:bit program's watch, run by Node with the OBLOQ stand-ins of test_boardcode_programs.py through
a classroom's freeze: it pings its own topic every PING_MS, shows the stale pattern as soon as a ping goes
unanswered for PING_WAIT_MS, and after the freeze acts on the newest of the queued labels only, once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.unit.boardcode.test_boardcode_programs import run_makecode

from visioncast.boardcode import COLOURS, Action, BoardSettings, generate

FREEZE = """
const mark = (what) => calls.push(["--", what]);
const until = (what) => { for (let i = 0; i < 10000 && !what(); i++) forever(); };
const sent = () => calls.filter((c) => c[0] === "send").length;
callbacks.topic_1("开心"); forever();
until(() => sent() === 1); mark("ping 1 at " + now);
callbacks.topic_2("ping"); forever();              // the broker answers
until(() => sent() === 2); mark("ping 2 at " + now);  // the broker froze: no answer
until(() => calls.some((c) => c[0] === "leds")); mark("stale at " + now);
for (let i = 0; i < 35; i++) callbacks.topic_1(i % 2 === 0 ? "愤怒" : "开心");  // thawed: the queue at once
callbacks.topic_2("ping");
for (let i = 0; i < 20; i++) forever();  // one second
mark("end at " + now);
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_a_freeze_shows_the_stale_pattern_and_only_the_newest_label_is_acted_on(tmp_path: Path) -> None:
    settings = BoardSettings(broker="h", actions={"开心": Action(COLOURS["yellow"], 180),
                                                  "愤怒": Action(COLOURS["red"], 0)})
    _, text = generate("microbit-obloq", settings)
    calls = run_makecode(text, [], tmp_path, FREEZE)[4:]  # after the set-up calls
    assert calls == [
        ["servo", "P0", 180], ["icon", "Happy"],
        ["send", "ping", "topic_2"], ["--", "ping 1 at 5050"],  # (each tick ends with a 50 ms pause)
        ["send", "ping", "topic_2"], ["--", "ping 2 at 10050"],
        ["leds"], ["--", "stale at 12050"],  # PING_WAIT_MS after the unanswered ping
        ["servo", "P0", 0], ["icon", "Angry"],  # the newest of 35, once, SETTLE_MS after the answer
        ["--", "end at 13050"],
    ]


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_an_answer_after_a_stale_spell_puts_the_label_back_without_turning_the_servo(tmp_path: Path) -> None:
    settings = BoardSettings(broker="h", actions={"开心": Action(COLOURS["yellow"], 180)})
    _, text = generate("microbit-obloq", settings)
    script = FREEZE.split("for (let i = 0; i < 35", maxsplit=1)[0] + """
callbacks.topic_2("ping");
for (let i = 0; i < 20; i++) forever();
"""
    calls = run_makecode(text, [], tmp_path, script)[4:]
    assert calls[-3:] == [["leds"], ["--", "stale at 12050"], ["icon", "Happy"]]
    assert [c for c in calls if c[0] == "servo"] == [["servo", "P0", 180]]
