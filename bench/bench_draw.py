"""The renderer of server-drawn frames per frame: this branch's (visioncast.overlay.draw_frame: tags in the
viewer's language from the font slices, placed so none covers another, glyphs and tags cached) against the
renderer it replaced (draw.draw_result + overlay.draw_overlay of git revision BASE, English labels in
WenQuanYi Micro Hei, text cached per string), side by side in one process.

The frames are the test clip's (tests/data/vtest_clip.mp4, 384×288, people walking) scaled to 576×432,
1280×960 and 1920×1440; the results are YOLOX-nano's on those frames, tracked and counted by the
pipeline's analytics (so tags carry track ids, scores change every frame, and the counts panel is drawn),
with one counting line. Each round draws every frame with each renderer, the renderers' order alternating
between rounds; the table gives the median of the rounds' ms per frame and the ratio to the baseline. The
contention probe (bench/contention.py) runs before and after. Asserts nothing.

    python bench/bench_draw.py [--rounds 7] [--base main]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from contention import describe, probe
from PIL import ImageFont

from visioncast.analytics import Analytics, AnalyticsSpec
from visioncast.models import load_model
from visioncast.overlay import draw_frame
from visioncast.sources.video import open_video

ROOT = Path(__file__).resolve().parents[1]
SIZES = [(576, 432), (1280, 960), (1920, 1440)]
LINE = "0,300,576,300:door"


def git_show(rev: str, path: str) -> bytes:
    return subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True,
                          capture_output=True).stdout


def baseline(rev: str, folder: Path) -> Callable[..., np.ndarray]:
    """The renderer of ``rev``: its draw.py and overlay.py, its bundled font, loaded as modules."""
    font_path = folder / "wqy-microhei.ttc"
    font_path.write_bytes(git_show(rev, "src/visioncast/assets/wqy-microhei.ttc"))
    draw = types.ModuleType("base_draw")
    exec(compile(git_show(rev, "src/visioncast/draw.py"), "base_draw.py", "exec"), draw.__dict__)

    @functools.lru_cache(maxsize=16)
    def font(size_px: int) -> Any:
        return ImageFont.truetype(str(font_path), size_px)

    draw.font = font
    overlay = types.ModuleType("base_overlay")
    source = git_show(rev, "src/visioncast/overlay.py").decode().replace(
        "from visioncast.draw import put_label, scale_for", "")
    overlay.__dict__.update(put_label=draw.put_label, scale_for=draw.scale_for)
    exec(compile(source, "base_overlay.py", "exec"), overlay.__dict__)

    def render(image: np.ndarray, result: Any, stats: Any, lines: Any, zones: Any) -> np.ndarray:
        return overlay.draw_overlay(draw.draw_result(image, result), stats, lines, zones)

    return render


def workload(size: tuple[int, int], detector: Any) -> list[tuple[np.ndarray, Any, Any, Any]]:
    """(frame, tracked result, stats, lines) of every frame of the clip at ``size``."""
    sx = size[0] / 576
    x1, y1, x2, y2 = (round(int(v) * sx) for v in LINE.split(":", maxsplit=1)[0].split(","))
    analytics = Analytics(AnalyticsSpec(lines=(f"{x1},{y1},{x2},{y2}:门口",)), source="bench")
    out = []
    with open_video(ROOT / "tests" / "data" / "vtest_clip.mp4") as video:
        for frame in video:
            image = cv2.resize(frame.image, size, interpolation=cv2.INTER_LINEAR)
            result, stats, _ = analytics.update(detector(image), frame.index, frame.timestamp_s)
            out.append((image, result, stats, list(analytics.lines)))
    return out


def per_frame_ms(render: Callable[..., np.ndarray], frames: list[tuple[Any, ...]]) -> float:
    t0 = time.perf_counter()
    for image, result, stats, lines in frames:
        render(image, result, stats, lines, [])
    return (time.perf_counter() - t0) * 1e3 / len(frames)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--base", default="main", help="git revision of the baseline renderer (default main)")
    args = parser.parse_args()
    print(describe(probe()), flush=True)
    detector = load_model("yolox-nano")
    with tempfile.TemporaryDirectory() as tmp:
        renderers = {
            f"{args.base} (English, WenQuanYi)": baseline(args.base, Path(tmp)),
            "this branch, en": functools.partial(draw_frame, lang="en"),
            "this branch, zh": functools.partial(draw_frame, lang="zh"),
        }
        print(f"{'frame':>10}  {'renderer':<28} {'ms/frame':>9} {'× base':>7}  {'first frame ms':>14}")
        for size in SIZES:
            frames = workload(size, detector)
            first = {name: per_frame_ms(render, frames[:1]) for name, render in renderers.items()}
            times: dict[str, list[float]] = {name: [] for name in renderers}
            for r in range(args.rounds):
                order = list(renderers) if r % 2 == 0 else list(reversed(renderers))
                for name in order:
                    times[name].append(per_frame_ms(renderers[name], frames))
            base = statistics.median(next(iter(times.values())))
            for name, values in times.items():
                median = statistics.median(values)
                print(f"{size[0]:>5}×{size[1]:<4}  {name:<28} {median:>9.2f} {median / base:>6.2f}×  "
                      f"{first[name]:>14.1f}", flush=True)
    print(describe(probe()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
