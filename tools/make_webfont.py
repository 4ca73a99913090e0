"""Make the CJK font of the pages and of the frames the server draws: Noto Sans CJK SC cut into WOFF2 slices.
Build time only.

    apt-get download fonts-noto-cjk && dpkg -x fonts-noto-cjk_*.deb /tmp/noto   # unpacked, not installed:
    python tools/make_webfont.py                                  # the browser tests want no system CJK font

Writes ``src/visioncast/server/static/fonts/cjk/``: ``NN.woff2`` slices, ``slices.json`` (each slice's file
and code points, read by visioncast.text) and ``fonts.css`` (one ``@font-face`` per slice with its
``unicode-range``, so a browser downloads only the slices its text needs, as Google Fonts does), and the
licence (SIL OFL 1.1) beside them.

What is in it: every character of GB 18030's two-byte part (GBK: 21,886 hanzi, punctuation, kana, Greek,
Cyrillic, box drawing…), CJK Extension A (3400–4DB5) and the Unified Ideographs block up to 9FFF:
GB 18030-2005's required repertoire; not the supplementary planes (Extension B on). The slices:

* ``latin``: Latin, Greek, Cyrillic, general punctuation, symbols: the server's labels only ("person 0.61");
  pages keep the system font for these, so fonts.css does not declare it;
* ``en``: the CJK characters of the English catalogue ("中文" of the language switch): all an English page
  loads;
* ``ui``: CJK and full-width punctuation and every character of the Chinese catalogue and of the shipped
  models' class names: what every Chinese page needs, in one file;
* then the other hanzi by how often they are used (character counts of jieba's word-frequency dictionary, a
  large corpus of modern Chinese; characters it never saw follow in GB 2312, GBK, Extension A order), small
  slices for the frequent ones, larger for the rare; last the other CJK symbols.

Needs fontTools, brotli and jieba (``pip install -e .[fonts]``); the package itself needs none of them.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "src" / "visioncast" / "server" / "static"
TARGET = STATIC / "fonts" / "cjk"
DEFAULT_SOURCE = "/tmp/noto/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
DEFAULT_COPYRIGHT = "/tmp/noto/usr/share/doc/fonts-noto-cjk/copyright"
FACE = "Noto Sans CJK SC"
FAMILY = "VC Noto Sans SC"  # the CSS family of the pages (app.css, draw.js)
LATIN = [(0x20, 0x7E), (0xA0, 0x24F), (0x2B0, 0x2FF), (0x370, 0x3FF), (0x400, 0x4FF), (0x2000, 0x206F),
         (0x2070, 0x20CF), (0x2100, 0x2BFF)]  # Latin, pinyin, Greek, Cyrillic, punctuation, symbols
PUNCTUATION = [(0x3000, 0x303F), (0xFF00, 0xFFEF)]  # CJK and full-width punctuation
HANZI = [(0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)]
# (slices, characters each) after the ui slice: small for the frequent hanzi, larger for the rare ones
SLICING = [(14, 250), (10, 450), (100, 650)]
LAYOUT_FEATURES = ["ccmp", "locl", "kern", "mark", "mkmk", "liga", "calt"]  # horizontal text only


def two_byte_gb18030() -> set[int]:
    """The code points of GB 18030's two-byte part, private use excepted."""
    points = set()
    for lead in range(0x81, 0xFF):
        for trail in range(0x40, 0xFF):
            try:
                point = ord(bytes([lead, trail]).decode("gb18030"))
            except UnicodeDecodeError:
                continue
            if not 0xE000 <= point <= 0xF8FF:
                points.add(point)
    return points


def in_ranges(point: int, ranges: list[tuple[int, int]]) -> bool:
    return any(low <= point <= high for low, high in ranges)


def catalogue_chars(name: str) -> set[int]:
    data = json.loads((STATIC / "i18n" / name).read_text(encoding="utf-8"))
    return {ord(c) for text in data.values() for c in text}


def frequency_rank() -> dict[int, float]:
    """Character → how often it occurs, from jieba's dictionary (words with corpus counts)."""
    import jieba  # noqa: PLC0415 — build time only

    counts: dict[int, float] = {}
    path = Path(jieba.__file__).parent / "dict.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        word, count, *_ = line.split(" ")
        for char in word:
            counts[ord(char)] = counts.get(ord(char), 0.0) + float(count)
    return counts


def code_order(point: int) -> tuple[int, int]:
    """GB 2312 level 1, level 2, the rest of GBK, then Extension A and the rest, each by code."""
    try:
        code = chr(point).encode("gb2312")
        return (0 if code[0] < 0xD8 else 1), point
    except UnicodeEncodeError:
        return (2 if 0x4E00 <= point <= 0x9FFF else 3), point


def plan(cmap: set[int]) -> list[tuple[str, list[int]]]:
    """The slices: (name, sorted code points), every wanted character of the font in exactly one."""
    wanted = cmap & (two_byte_gb18030() | set(range(0x3400, 0x4DB6)) | set(range(0x4E00, 0xA000))
                     | set(range(0x20, 0x250)))
    latin = {p for p in wanted if in_ranges(p, LATIN)}
    english = {p for p in catalogue_chars("en.json") if p >= 0x2E80} & wanted
    ui = ({p for p in wanted if in_ranges(p, PUNCTUATION)}
          | (catalogue_chars("zh.json") | catalogue_chars("labels-zh.json")) & wanted) - latin - english
    slices = [("latin", latin), ("en", english), ("ui", ui)]
    counts = frequency_rank()
    # Cut by rank among all the hanzi, then take out those of en and ui: new text in the catalogues changes
    # ui and the few slices its characters came from, not every slice after them.
    hanzi = sorted((p for p in wanted - latin if in_ranges(p, HANZI)),
                   key=lambda p: (-counts.get(p, 0.0), code_order(p)))
    start = 0
    for count, size in SLICING:
        for _ in range(count):
            if start >= len(hanzi):
                break
            slices.append((f"{len(slices) - 3:02d}", set(hanzi[start:start + size]) - english - ui))
            start += size
    slices.append(("symbols", wanted - latin - english - ui - set(hanzi)))
    return [(name, sorted(points)) for name, points in slices if points]


def cut(source: Path, points: list[int]) -> bytes:
    """The WOFF2 of the face FACE of ``source`` with only ``points`` (no hints, horizontal layout only)."""
    font = next(f for f in TTCollection(str(source)).fonts if f["name"].getDebugName(4) == FACE)
    options = subset.Options()
    options.flavor = "woff2"
    options.name_IDs = ["*"]  # the copyright, trademark and licence names travel in every slice
    options.notdef_outline = True
    options.hinting = False  # hints are a large share of CFF; screens at these sizes render well without
    options.desubroutinize = True  # smaller after WOFF2's Brotli
    options.layout_features = LAYOUT_FEATURES
    options.drop_tables += ["vhea", "vmtx", "VORG", "BASE"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=points)
    subsetter.subset(font)
    font.recalcTimestamp = False  # the source's date: an unchanged slice is the same bytes when rebuilt
    out = io.BytesIO()
    subset.save_font(font, out, options)
    return out.getvalue()


def unicode_range(points: list[int]) -> str:
    """'U+4E00-4E05,U+4E07' for the sorted ``points``."""
    runs: list[list[int]] = []
    for p in points:
        if runs and p == runs[-1][1] + 1:
            runs[-1][1] = p
        else:
            runs.append([p, p])
    return ",".join(f"U+{a:X}" if a == b else f"U+{a:X}-{b:X}" for a, b in runs)


def write_css(slices: list[dict[str, object]]) -> str:
    head = (f"/* {FACE} (SIL OFL 1.1, LICENSE-noto-sans-cjk), cut by tools/make_webfont.py into slices by\n"
            "   unicode-range: a browser downloads only the slices of the characters on its page. The latin\n"
            "   slice is for the frames the server draws: pages keep the system font for Latin text. */\n")
    rules = [f'@font-face {{\n  font-family: "{FAMILY}";\n  src: url("{s["file"]}") format("woff2");\n'
             f"  font-display: block;\n  unicode-range: {s['range']};\n}}\n"
             for s in slices if s["name"] != "latin"]
    return head + "".join(rules)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path(DEFAULT_SOURCE), help="NotoSansCJK-Regular.ttc")
    parser.add_argument("--licence", type=Path, default=Path(DEFAULT_COPYRIGHT),
                        help="the Debian package's copyright file (its SIL-1.1 licence text is copied)")
    args = parser.parse_args(argv)
    font = next(f for f in TTCollection(str(args.source)).fonts if f["name"].getDebugName(4) == FACE)
    slices = plan(set(font.getBestCmap()))
    TARGET.mkdir(parents=True, exist_ok=True)
    for old in TARGET.glob("*.woff2"):
        old.unlink()
    manifest = []
    for name, points in slices:
        data = cut(args.source, points)
        (TARGET / f"{name}.woff2").write_bytes(data)
        manifest.append({"name": name, "file": f"{name}.woff2", "bytes": len(data), "chars": len(points),
                         "range": unicode_range(points)})
        print(f"{name}.woff2: {len(points)} characters, {len(data) / 1024:.0f} KB", flush=True)
    (TARGET / "slices.json").write_text(json.dumps({"family": FAMILY, "face": FACE, "slices": manifest},
                                                   ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (TARGET / "fonts.css").write_text(write_css(manifest), encoding="utf-8")
    write_licence(font, args.licence)
    total = sum(int(s["bytes"]) for s in manifest)
    chars = sum(int(s["chars"]) for s in manifest)
    print(f"{len(manifest)} slices, {chars} characters, {total / 1024 / 1024:.1f} MB")
    return 0


def write_licence(font: object, copyright_file: Path) -> None:
    """LICENSE-noto-sans-cjk: the font's own copyright and trademark names, then the OFL 1.1 text."""
    text = copyright_file.read_text(encoding="utf-8")
    body = text.split("License: SIL-1.1\n", 2)[-1].split("\nLicense: ", 1)[0]
    ofl = "\n".join("" if line.strip() == "." else line[1:] for line in body.splitlines())
    names = font["name"]  # type: ignore[index]
    head = "\n".join(names.getDebugName(i) for i in (0, 7, 13) if names.getDebugName(i))
    source = "Source: Debian's fonts-noto-cjk (1:20220127), https://github.com/notofonts/noto-cjk\n"
    text = f"{FACE}\n{head}\n{source}\n{ofl.strip()}\n"
    (TARGET / "LICENSE-noto-sans-cjk").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
