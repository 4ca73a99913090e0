"""open_source picks the right source for each spec and refuses bad ones with one clear line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from visioncast.errors import SourceError
from visioncast.sources import open_source
from visioncast.sources.folder import ImageFilesSource
from visioncast.sources.video import VideoFileSource


def test_video_file_is_every_frame_with_timestamps(data_dir: Path) -> None:
    with open_source(str(data_dir / "vtest_clip.avi")) as src:
        assert isinstance(src, VideoFileSource)
        assert not src.live
        frames = list(src)
    assert len(frames) == src.frame_count == 70
    assert [f.timestamp_s for f in frames[:3]] == [0.0, 0.1, 0.2]


def test_single_image_is_still_and_folder_counts_bad_images(data_dir: Path, tmp_path: Path) -> None:
    image = open_source(str(data_dir / "bus.jpg"))
    assert isinstance(image, ImageFilesSource)
    assert image.still
    assert len(list(image)) == 1
    shutil.copy(data_dir / "bus.jpg", tmp_path / "a.jpg")
    (tmp_path / "b.jpg").write_bytes(b"not a jpeg")
    shutil.copy(data_dir / "zidane.jpg", tmp_path / "c.jpg")
    folder = open_source(str(tmp_path))
    frames = list(folder)
    assert [f.source for f in frames] == ["a.jpg", "c.jpg"]
    assert folder.counters()["bad_frames"] == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing.mp4", "source not found: 'missing.mp4'"),
        ("ftp://example.invalid/x", "stream URL scheme must be one of"),
        ("http://127.0.0.1:9/none.mjpg", "cannot open 'http://127.0.0.1:9/none.mjpg'"),
    ],
)
def test_unreadable_sources(spec: str, message: str) -> None:
    with pytest.raises(SourceError, match=re.escape(message)):
        open_source(spec)


def test_not_a_video_or_image(tmp_path: Path) -> None:
    bad = tmp_path / "notes.avi"
    bad.write_text("hello", encoding="utf-8")
    with pytest.raises(SourceError, match=r"cannot open 'notes\.avi' as a video"):
        open_source(str(bad))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 nope")
    with pytest.raises(SourceError, match="cannot read image source"):
        open_source(str(broken))
