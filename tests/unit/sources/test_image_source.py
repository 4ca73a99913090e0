"""Still images: decoded to BGR, and every kind of bad input refused with the right error before decoding."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from visioncast.errors import InputError, TooLargeError, UnsupportedMediaError
from visioncast.sources.image import UnsupportedImageError, decode_image, image_frame, read_image


def encode(ext: str, image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("ext", [".png", ".bmp", ".jpg", ".webp", ".tiff"])
def test_formats_decode_to_bgr(ext):
    image = np.zeros((6, 10, 3), np.uint8)
    image[:, :, 0] = 200  # blue
    decoded = decode_image(encode(ext, image))
    assert decoded.shape == (6, 10, 3)
    assert decoded.dtype == np.uint8
    assert abs(int(decoded[3, 5, 0]) - 200) <= 3
    assert int(decoded[3, 5, 2]) <= 3


def test_gray_png_becomes_three_channels():
    assert decode_image(encode(".png", np.full((4, 4), 9, np.uint8))).shape == (4, 4, 3)


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", InputError, "upload is empty"),
        (b"hello, world", UnsupportedMediaError,
         "upload must be a JPEG/PNG/BMP/WebP/TIFF/HEIC/AVIF image, got text"),
        (b"\x00\x01\x02\xff" * 10, UnsupportedMediaError, "got unrecognised binary data"),
    ],
)
def test_bad_bytes(data, error, message):
    with pytest.raises(error, match=message):
        decode_image(data, name="upload")


def test_a_real_image_of_another_format_is_named():
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="GIF")
    with pytest.raises(UnsupportedImageError,
                       match="upload must be a JPEG/PNG/BMP/WebP/TIFF/HEIC/AVIF image, got GIF") as caught:
        decode_image(buf.getvalue(), name="upload")
    assert caught.value.kind == "GIF"
    assert caught.value.code == "image_unsupported"


def test_pixel_limit_is_checked_before_decoding():
    data = encode(".png", np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(TooLargeError, match=r"image is 100×100 = 0 megapixels; the limit is 0 megapixels"):
        decode_image(data, max_pixels=9_999)
    assert decode_image(data, max_pixels=10_000).shape == (100, 100, 3)


def test_truncated_png_is_refused():
    data = encode(".png", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    with pytest.raises(InputError, match="corrupt PNG"):
        decode_image(data[: len(data) // 2])


def test_files(tmp_path, data_dir):
    assert read_image(data_dir / "bus.jpg").shape == (1080, 810, 3)
    frame = image_frame(data_dir / "zidane.jpg")
    assert (frame.width, frame.height, frame.source) == (1280, 720, "zidane.jpg")
    with pytest.raises(InputError, match="expected an image file, got a directory"):
        read_image(tmp_path)


def _jpeg_with_orientation(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=100, exif=exif)
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_pillow_does(orientation: int) -> None:
    ramp = (np.indices((30, 50)).sum(0)[..., None] * np.array([3, 5, 7]) % 255).astype(np.uint8)
    data = _jpeg_with_orientation(Image.fromarray(ramp), orientation)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))[..., ::-1]
    got = decode_image(data)
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize(("width", "height"), [(2000, 2), (2, 2000), (1000, 19)])
def test_images_too_long_and_thin_for_a_model_are_input_errors(width: int, height: int) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 200)).save(buf, "PNG")
    with pytest.raises(InputError, match=f"{width}×{height} pixels: too long and thin"):
        decode_image(buf.getvalue())
