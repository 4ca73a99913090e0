"""boardcode.makecode.microbit_shows: what the micro:bit's 5×5 screen shows for each label — an ASCII text,
else an ASCII label, else an icon that means the word (开心 → Happy), else the next free icon, else the
label's number — and that no two labels share an icon."""

from __future__ import annotations

from visioncast.boardcode import Action, Shown, microbit_shows
from visioncast.boardcode.makecode import ICON_WORDS, ICONS


def test_text_label_icon_and_clear() -> None:
    shows = microbit_shows({"开心": Action(), "愤怒": Action(text="grr"), "happy": Action(),
                            "none": Action(), "猫": Action(text="猫猫"), "举手": Action()})
    assert shows == {"开心": Shown("icon", "Happy"), "愤怒": Shown("text", "grr"),
                     "happy": Shown("text", "happy"), "none": Shown("clear"), "猫": Shown("icon", "Sad"),
                     "举手": Shown("icon", "StickFigure")}


def test_meanings_win_over_order_and_icons_stay_distinct() -> None:
    # 苹果 comes before 开心, yet Happy goes to 开心; 高兴 means Happy too, already taken: a free icon.
    shows = microbit_shows({"伤心": Action(), "苹果": Action(), "开心": Action(), "高兴": Action()})
    assert shows == {"伤心": Shown("icon", "Sad"), "苹果": Shown("icon", "Angry"),
                     "开心": Shown("icon", "Happy"), "高兴": Shown("icon", "Surprised")}


def test_when_the_icons_run_out_the_number_is_shown() -> None:
    labels = [f"类{i}" for i in range(len(ICONS) + 2)]
    shows = microbit_shows({label: Action() for label in labels})
    icons = [s.value for s in shows.values() if s.kind == "icon"]
    assert sorted(icons) == sorted(ICONS)
    assert [shows[label] for label in labels[-2:]] == [Shown("number", str(len(ICONS) + 1)),
                                                      Shown("number", str(len(ICONS) + 2))]


def test_every_meaning_is_a_makecode_icon() -> None:
    assert set(ICON_WORDS.values()) <= set(ICONS)
    assert len(set(ICONS)) == len(ICONS)
