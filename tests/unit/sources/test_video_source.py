"""VideoFileSource: ``start_frame`` skips the frames before it and keeps the file's indices, timestamps and
pictures (a video job resumed after a restart)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from visioncast.sources.video import VideoFileSource


@pytest.mark.parametrize(("clip", "start"), [("vtest_clip.mp4", 0), ("vtest_clip.mp4", 17),
                                             ("vtest_clip.avi", 69), ("vtest_clip.avi", 70),
                                             ("vtest_clip.avi", 500)])
def test_start_frame_keeps_indices_timestamps_and_pictures(data_dir: Path, clip: str, start: int) -> None:
    with VideoFileSource(data_dir / clip) as video:
        every = list(video)
    with VideoFileSource(data_dir / clip, start_frame=start) as video:
        rest = list(video)
    assert [f.index for f in rest] == [f.index for f in every[start:]]
    assert [f.timestamp_s for f in rest] == [f.timestamp_s for f in every[start:]]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(rest, every[start:], strict=True))
