"""Text on frames: any string (Chinese, English, digits) as an alpha mask, drawn with the shipped font.
I/O: reads the font's slices, each once, when a character first needs it.

The font is the pages' own: Noto Sans CJK SC (SIL OFL 1.1) cut into WOFF2 slices by tools/make_webfont.py
(``server/static/fonts/cjk/``: ``slices.json`` says which characters each slice holds), which Pillow's
FreeType reads. OpenCV's ``putText`` knows ASCII only, and opencv-python-headless has no ``cv2.freetype``.

Labels are drawn on every frame of a pipeline, so each character is rendered once per size and kept
(:func:`glyph`); a string is its glyphs set side by side at their advances. Characters of no slice (an emoji)
show the font's empty box.
"""

from __future__ import annotations

import functools
import io
import json
import math
from importlib import resources
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ASCENT_EM, DESCENT_EM = 0.92, 0.24  # the line box: ideographs fill 0.88 em above the baseline, 0.12 below;
# Latin descenders (g, y) reach 0.2


def _font_folder() -> Any:
    return resources.files("visioncast") / "server" / "static" / "fonts" / "cjk"


@functools.cache
def _slices() -> tuple[list[str], dict[int, int]]:
    """The slice files and, for every character the font has, the index of its slice."""
    manifest = json.loads((_font_folder() / "slices.json").read_text(encoding="utf-8"))
    files, where = [], {}
    for index, entry in enumerate(manifest["slices"]):
        files.append(entry["file"])
        for part in entry["range"].split(","):
            low, _, high = part.removeprefix("U+").partition("-")
            for point in range(int(low, 16), int(high or low, 16) + 1):
                where[point] = index
    return files, where


@functools.cache
def _slice_bytes(index: int) -> bytes:
    files, _ = _slices()
    return (_font_folder() / files[index]).read_bytes()


@functools.lru_cache(maxsize=128)
def face(index: int, size_px: int) -> ImageFont.FreeTypeFont:
    """Slice ``index`` of the font at ``size_px``."""
    return ImageFont.truetype(io.BytesIO(_slice_bytes(index)), size_px)


def slice_of(char: str) -> int:
    """The slice that draws ``char`` (the Latin slice, with its empty box, for a character of none)."""
    _, where = _slices()
    return where.get(ord(char), where[ord("?")])


def line_box(size_px: int) -> tuple[int, int]:
    """(height, baseline) in pixels of one line of text at ``size_px``."""
    ascent = math.ceil(size_px * ASCENT_EM)
    return ascent + math.ceil(size_px * DESCENT_EM), ascent


@functools.lru_cache(maxsize=8192)
def glyph(char: str, size_px: int) -> tuple[np.ndarray, float, int]:
    """(mask, advance px, left overhang px) of one character: its ink as H×W uint8 (H the line height at
    ``size_px``), the pen's move to the next character, and how far the ink starts left of the pen."""
    font = face(slice_of(char), size_px)
    height, baseline = line_box(size_px)
    left, _, right, _ = font.getbbox(char, anchor="ls")
    advance = font.getlength(char)
    overhang = max(0, -math.floor(left))
    width = max(1, math.ceil(max(right, advance)) + overhang)
    image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(image).text((overhang, baseline), char, fill=255, font=font, anchor="ls")
    return np.asarray(image), advance, overhang


def measure(text: str, size_px: int) -> int:
    """The width in pixels ``text`` takes at ``size_px``."""
    return max(1, math.ceil(sum(glyph(c, size_px)[1] for c in text)))


def text_mask(text: str, size_px: int) -> np.ndarray:
    """``text`` as an alpha mask (line height × :func:`measure` width, uint8), from the cached glyphs."""
    height, _ = line_box(size_px)
    out = np.zeros((height, measure(text, size_px)), np.uint8)
    pen = 0.0
    for char in text:
        mask, advance, overhang = glyph(char, size_px)
        x = round(pen) - overhang
        lo, hi = max(x, 0), min(x + mask.shape[1], out.shape[1])
        if hi > lo:
            np.maximum(out[:, lo:hi], mask[:, lo - x : hi - x], out=out[:, lo:hi])
        pen += advance
    return out
