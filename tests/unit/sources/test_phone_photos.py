"""Photos as phones make them: motion photos (a JPEG with an MP4 after its end), HEIC and AVIF, decided by
the data. The committed files are made by tools/make_test_photos.py (origin in tests/data/README.md)."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import cv2
import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageOps

from visioncast.errors import InputError, UnsupportedMediaError
from visioncast.sources.image import decode_image, image_kind, jpeg_end, read_image


def pillow_upright(data: bytes) -> np.ndarray:
    """What Pillow shows for ``data`` (EXIF orientation applied), BGR: the reference."""
    pillow_heif.register_heif_opener()
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))[..., ::-1]


def ramp(height: int = 60, width: int = 100) -> np.ndarray:
    """A picture whose every turn and flip looks different (and survives lossy coding): RGB uint8."""
    image = (np.indices((height, width)).sum(0)[..., None] * np.array([2, 3, 1]) % 200).astype(np.uint8)
    image[:15, :15] = 255  # a white corner: top left
    return image


def test_motion_photo_decodes_as_its_jpeg_and_carries_the_whole_mp4(data_dir):
    data = (data_dir / "motion_photo.jpg").read_bytes()
    video = (data_dir / "vtest_clip.mp4").read_bytes()
    end = jpeg_end(data)
    assert data[end:] == video  # the cut is exactly where the video starts
    xmp = re.search(rb'Item:Semantic="MotionPhoto" Item:Length="(\d+)"', data)
    assert xmp is not None
    assert int(xmp.group(1)) == len(video)  # as the phone's XMP says
    got = read_image(data_dir / "motion_photo.jpg")
    assert got.shape == (610, 500, 3)
    assert np.abs(got.astype(int) - pillow_upright(data)).max() <= 2


@pytest.mark.parametrize("tail", [
    b"\xff\xd8\xff\xe0 a second image header and \xff\xd9 its end",  # a Multi-Picture file's second image
    b"MotionPhoto_Data" + b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40,  # Samsung's marker + MP4
    b"\x00" * 10,  # zero padding some cameras write
])
def test_any_trailing_data_is_left_out(tail: bytes) -> None:
    ok, buf = cv2.imencode(".jpg", ramp()[..., ::-1])
    assert ok
    alone = decode_image(buf.tobytes())
    assert np.array_equal(decode_image(buf.tobytes() + tail), alone)


def test_markers_inside_segments_and_scans_do_not_end_the_image() -> None:
    thumb = io.BytesIO()
    Image.fromarray(ramp(8, 8)).save(thumb, "JPEG")  # its own start and end markers, inside a comment
    for options in ({"progressive": True}, {"optimize": True}, {}):
        buf = io.BytesIO()
        Image.fromarray(ramp(300, 400)).save(buf, "JPEG", comment=thumb.getvalue(), **options)
        data = buf.getvalue()
        assert jpeg_end(data) == len(data), options
    ok, restarts = cv2.imencode(".jpg", ramp(300, 400), [cv2.IMWRITE_JPEG_RST_INTERVAL, 2])
    assert ok
    assert jpeg_end(restarts.tobytes()) == len(restarts)


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.999])
def test_a_jpeg_cut_anywhere_is_truncated_even_with_data_after_the_cut(data_dir, keep: float) -> None:
    data = (data_dir / "bus.jpg").read_bytes()
    cut = data[: int(len(data) * keep)]
    for sent in (cut, cut + b"\x00\x01" * 4000):  # a trailer no longer hides a missing end
        with pytest.raises(InputError, match="is a truncated or corrupt JPEG"):
            decode_image(sent)


def test_iphone_heic_is_upright_and_matches_the_jpeg(data_dir):
    heic = read_image(data_dir / "zidane.heic")
    jpeg = read_image(data_dir / "zidane.jpg")
    assert heic.shape == jpeg.shape == (720, 1280, 3)  # stored turned, shown upright by its irot
    assert np.abs(heic.astype(int) - jpeg).mean() < 3


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_heif_and_avif_come_upright_as_pillow_shows_them(fmt: str, orientation: int) -> None:
    pillow_heif.register_heif_opener()
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(ramp()).save(buf, fmt, quality=95, exif=exif.tobytes())
    data = buf.getvalue()
    got, expected = decode_image(data), pillow_upright(data)
    assert got.shape == expected.shape == ((100, 60, 3) if orientation in (6, 8) else (60, 100, 3))
    assert np.abs(got.astype(int) - expected).max() <= 1
    corner = {1: (0, 0), 3: (-1, -1), 6: (0, -1), 8: (-1, 0)}[orientation]  # where the white corner went
    assert got[corner].min() > 200


def test_a_damaged_heic_is_an_input_error(data_dir):
    data = (data_dir / "zidane.heic").read_bytes()
    with pytest.raises(InputError, match="corrupt"):
        decode_image(data[: len(data) // 2])


def test_without_pillow_heif_a_heic_names_the_package(data_dir):
    code = ("import sys; sys.modules['pillow_heif'] = None\n"  # as if it were not installed
            "from visioncast.sources.image import read_image\n"
            f"read_image({str(data_dir / 'zidane.heic')!r})")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 1
    assert "UnsupportedImageError" in proc.stderr
    assert ("is a HEIC/HEIF photo, which needs the pillow-heif package (pip install pillow-heif)"
            in proc.stderr)


def test_image_kind_reads_the_data_not_the_name(data_dir, tmp_path):
    renamed = tmp_path / "clip.mp4"
    renamed.write_bytes((data_dir / "zidane.heic").read_bytes())
    assert image_kind(renamed) == "HEIF"
    assert image_kind(data_dir / "motion_photo.jpg") == "JPEG"
    assert image_kind(data_dir / "vtest_clip.mp4") is None
    assert image_kind(tmp_path / "missing.jpg") is None
    with pytest.raises(UnsupportedMediaError, match="got unrecognised binary data"):
        decode_image((data_dir / "vtest_clip.mp4").read_bytes())
