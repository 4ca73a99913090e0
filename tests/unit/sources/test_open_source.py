"""open_source picks the right source for each spec and refuses bad ones with one clear line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from visioncast.errors import SourceError
from visioncast.sources import open_source
from visioncast.sources.folder import ImageFilesSource, folder_files
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


def test_a_folder_lists_every_file_but_hidden_ones(data_dir: Path, tmp_path: Path) -> None:
    shutil.copy(data_dir / "zidane.heic", tmp_path / "a.heic")
    Image.new("RGB", (8, 8)).save(tmp_path / "b.gif")
    (tmp_path / "c.txt").write_text("notes", encoding="utf-8")
    shutil.copy(data_dir / "motion_photo.jpg", tmp_path / "d.jpg")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    assert [p.name for p in folder_files(tmp_path)] == ["a.heic", "b.gif", "c.txt", "d.jpg"]
    folder = open_source(str(tmp_path))
    assert [f.source for f in folder] == ["a.heic", "d.jpg"]
    assert folder.counters()["bad_frames"] == 2


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".hidden.jpg").write_bytes(b"")
    with pytest.raises(SourceError, match="holds no files"):
        open_source(str(tmp_path))


def test_a_still_image_under_a_video_name_is_not_a_video(data_dir: Path, tmp_path: Path) -> None:
    for source, name in (("bus.jpg", "renamed.mp4"), ("zidane.heic", "clip.mov")):
        shutil.copy(data_dir / source, tmp_path / name)
        with pytest.raises(SourceError, match=re.escape(f"'{name}' is not a video: it is a ")):
            open_source(str(tmp_path / name))


def test_a_still_gif_plays_its_one_frame(tmp_path: Path) -> None:
    """FFmpeg reads a GIF (animated ones are videos); after the first-frame check it still has its frame."""
    Image.new("RGB", (32, 24), (200, 40, 40)).save(tmp_path / "still.gif")
    with open_source(str(tmp_path / "still.gif")) as src:
        frames = list(src)
    assert len(frames) == 1
    assert frames[0].image.shape == (24, 32, 3)
