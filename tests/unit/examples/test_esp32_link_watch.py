"""The ESP32 sketch's link watch (the plain C++ between its "link watch" markers), compiled with g++ and
driven through a classroom's freeze: pings every PING_MS, the LEDs off as soon as one goes unanswered for
PING_WAIT_MS, the link dropped after DEAD_MS, and after the freeze only the newest of the queued labels acted
on, once, SETTLE_MS after the broker answers again; with millis() wrapping round in the middle. (The ESP32
core and PubSubClient cannot be installed offline: the rest of the sketch is parsed by
test_board_programs.py.)"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

SKETCH = Path(__file__).resolve().parents[3] / "src" / "visioncast" / "boards" / "esp32_led" / "esp32_led.ino"
DRIVER = r"""
#include <climits>
#include <cstdio>
#include <cstring>
%(constants)s
%(watch)s
static unsigned long t0 = ULONG_MAX - 3000;  // millis() wraps round 3 s in
static void say(unsigned long now, const char *what) { std::printf("%%lu %%s\n", now - t0, what); }

// Runs 40 s of loop() at 10 ms steps. The broker echoes each ping 50 ms later and sends label "开心" at 1 s,
// until it freezes at freezeMs; while frozen the teacher's 35 labels queue up (愤怒/开心 ..., the last 愤怒);
// at thawMs (0: never) they all arrive at once, then the echo of the ping.
static void run(unsigned long freezeMs, unsigned long thawMs) {
  LinkWatch w;
  w.lastPingMs = t0;
  unsigned long echoAt = 0;
  bool echoDue = false, thawed = false;
  for (unsigned long rel = 0; rel <= 40000; rel += 10) {
    unsigned long now = t0 + rel;
    bool frozen = rel >= freezeMs && (thawMs == 0 || rel < thawMs);
    if (rel == 1000) { linkAnswered(w, now); linkLabel(w, "开心", strlen("开心")); }
    if (thawMs != 0 && rel >= thawMs && !thawed) {
      thawed = true;
      for (int i = 0; i < 35; i++) {
        const char *label = i %% 2 == 0 ? "愤怒" : "开心";
        linkAnswered(w, now);
        linkLabel(w, label, strlen(label));
      }
    }
    if (echoDue && !frozen && (long)(now - echoAt) >= 0) {
      echoDue = false;
      linkAnswered(w, now);
      say(now, "ECHO");
    }
    switch (linkStep(w, now)) {
      case LINK_PING: say(now, "PING"); echoDue = true; echoAt = now + 50; break;
      case LINK_STALE: say(now, "STALE"); break;
      case LINK_DEAD: say(now, "DEAD"); return;
      case LINK_IDLE: break;
    }
    char label[LABEL_MAX + 1];
    if (linkTakeNewest(w, now, label)) {
      char line[300];
      std::snprintf(line, sizeof line, "ACT %%s", label);
      say(now, line);
    }
  }
}

int main() {
  run(7000, 13000);
  std::printf("--\n");
  run(7000, 0);
}
"""


def compiled_watch(tmp_path: Path) -> list[str]:
    text = SKETCH.read_text(encoding="utf-8")
    constants = "\n".join(re.findall(r"^const (?:unsigned long|int) (?:PING|PING_WAIT|DEAD|SETTLE)_MS = .*$|"
                                     r"^const int MAX_BURST = .*$", text, re.MULTILINE))
    watch = text[text.index("// ---- link watch"):text.index("// ---- end of the link watch")]
    source = tmp_path / "watch.cpp"
    source.write_text(DRIVER % {"constants": constants, "watch": watch}, encoding="utf-8")
    subprocess.run(["g++", "-std=gnu++17", "-Wall", "-Werror", "-o", str(tmp_path / "watch"), str(source)],
                   check=True, timeout=120)
    out = subprocess.run([str(tmp_path / "watch")], capture_output=True, check=True, timeout=10, text=True)
    return out.stdout.splitlines()


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
def test_the_link_watch_goes_stale_at_once_and_acts_on_the_newest_label_only(tmp_path: Path) -> None:
    thawed, _, frozen = "\n".join(compiled_watch(tmp_path)).partition("\n--\n")
    assert thawed.splitlines() == [
        "1000 ACT 开心",
        "5000 PING", "5050 ECHO",
        "10000 PING",  # the broker froze at 7 s: this ping has no answer
        "12000 STALE",  # PING_WAIT_MS later the LEDs go off
        "13000 ECHO",  # the broker is back: the 35 labels queued up came at once, then the echo
        "13200 ACT 愤怒",  # after SETTLE_MS, the newest only, once
        *[f"{s}000 {what}" if what == "PING" else f"{s}050 ECHO" for s in range(15, 40, 5)
          for what in ("PING", "ECHO")],
        "40000 PING",
    ]
    assert frozen.splitlines() == ["1000 ACT 开心", "5000 PING", "5050 ECHO", "10000 PING", "12000 STALE",
                                   "25000 DEAD"]  # DEAD_MS after the unanswered ping: reconnect
