"""Make the pages' CJK web font: a WOFF2 subset of the bundled WenQuanYi Micro Hei. Build time only.

    python tools/make_webfont.py   # rewrites src/visioncast/server/static/fonts/wqy-microhei-gb2312.woff2

The subset is printable ASCII, Latin-1 punctuation, CJK and full-width punctuation, the 3,755 level-1 hanzi of
GB2312 (the common characters: what school texts and labels use) and every character of the Chinese message
catalogue (static/i18n/zh.json) and of the shipped models' class names (labels-zh.json), so the pages' own
text always renders. Needs fontTools and brotli (PyPI: ``pip install fonttools brotli``; the package itself
does not). The licence (Apache-2.0) travels beside it.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "src" / "visioncast" / "assets"
SOURCE = ASSETS / "wqy-microhei.ttc"
LICENCE = ASSETS / "LICENSE-wqy-microhei"
STATIC = ROOT / "src" / "visioncast" / "server" / "static"
TARGET = STATIC / "fonts" / "wqy-microhei-gb2312.woff2"
RANGES = [(0x20, 0x7E), (0xA0, 0xFF), (0x2010, 0x2027), (0x2030, 0x203A), (0x2190, 0x2193), (0x2212, 0x2212),
          (0x3000, 0x303F), (0xFF01, 0xFF5E), (0x00D7, 0x00D7), (0x2026, 0x2026), (0x2264, 0x2265)]


def gb2312_level1() -> set[int]:
    """The code points of GB2312's level-1 hanzi (rows 16–55, sorted by pinyin in the standard)."""
    points = set()
    for row in range(0xB0, 0xD8):
        for cell in range(0xA1, 0xFF):
            try:
                points.add(ord(bytes([row, cell]).decode("gb2312")))
            except UnicodeDecodeError:
                continue  # row 55 ends at cell 0xF9
    return points


def wanted() -> set[int]:
    points = {p for low, high in RANGES for p in range(low, high + 1)} | gb2312_level1()
    for name in ("zh.json", "labels-zh.json"):  # the messages and the shipped models' class names
        catalogue = json.loads((STATIC / "i18n" / name).read_text(encoding="utf-8"))
        points |= {ord(c) for text in catalogue.values() for c in text}
    return points


def main() -> int:
    font = TTCollection(str(SOURCE)).fonts[0]  # 0: WenQuanYi Micro Hei (1: its monospaced twin)
    options = subset.Options()
    options.flavor = "woff2"
    options.name_IDs = ["*"]  # keeps the copyright and licence names
    options.notdef_outline = True
    options.drop_tables += ["vhea", "vmtx", "FFTM"]  # vertical metrics: the pages set text horizontally
    options.hinting = False  # hints are most of the size; screens at this size render well without
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=wanted())
    subsetter.subset(font)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    subset.save_font(font, str(TARGET), options)
    shutil.copyfile(LICENCE, TARGET.parent / "LICENSE-wqy-microhei")
    glyphs = len(font.getGlyphOrder())
    print(f"{TARGET.relative_to(ROOT)}: {glyphs} glyphs, {TARGET.stat().st_size / 1024:.0f} KB "
          f"(from {SOURCE.stat().st_size / 1024 / 1024:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
