"""to_nchw against the plain numpy definition (transpose, cast, scale), for every option the decoders use."""

from __future__ import annotations

import numpy as np
import pytest

from visioncast.tasks.preprocess import letterbox_image, to_nchw


def reference(image: np.ndarray, *, rgb: bool, scale: float, dtype: str) -> np.ndarray:
    chw = (image[:, :, ::-1] if rgb else image).transpose(2, 0, 1)[None]
    if dtype == "uint8":
        return np.ascontiguousarray(chw)
    return (chw.astype(np.float32) * np.float32(scale)).astype(dtype)


@pytest.mark.parametrize("rgb", [False, True])
@pytest.mark.parametrize(("scale", "dtype"), [(1.0, "float32"), (1 / 255, "float32"), (1 / 255, "float16"),
                                              (1.0, "uint8")])
def test_to_nchw_matches_the_numpy_definition(rgb: bool, scale: float, dtype: str) -> None:
    image = np.random.default_rng(7).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    got = to_nchw(image, rgb=rgb, scale=scale, dtype=dtype)
    want = reference(image, rgb=rgb, scale=scale, dtype=dtype)
    assert got.shape == (1, 3, 48, 64)
    assert got.dtype == np.dtype(dtype)
    assert got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)
    first = got[0, :, 0, 0].astype(np.float64)
    pixel = image[0, 0, ::-1] if rgb else image[0, 0]
    np.testing.assert_allclose(first, pixel * scale, rtol=1e-3)  # the channel order, spelled out


def test_letterbox_centres_and_fills() -> None:
    image = np.full((30, 60, 3), 200, np.uint8)
    canvas, box = letterbox_image(image, (64, 64), center=True)
    assert canvas.shape == (64, 64, 3)
    assert (box.scale, box.pad_x, box.pad_y) == (64 / 60, 0.0, 16.0)
    assert (canvas[:16] == 114).all()
    assert (canvas[48:] == 114).all()
    assert (canvas[16:48] == 200).all()


@pytest.mark.parametrize(("src_wh", "size_wh", "center"), [
    ((768, 576), (416, 416), False), ((768, 576), (640, 640), True), ((300, 700), (64, 64), True),
    ((64, 48), (64, 64), True), ((33, 17), (32, 32), False)])
def test_letterbox_equals_resize_then_paste(src_wh, size_wh, center) -> None:
    """The resize written straight into the canvas (full-width rows) or pasted (side padding, no resize):
    the same pixels as resizing apart and copying into a filled canvas."""
    import cv2  # noqa: PLC0415

    image = np.random.default_rng(5).integers(0, 256, (src_wh[1], src_wh[0], 3), dtype=np.uint8)
    canvas, box = letterbox_image(image, size_wh, center=center, fill=114)
    new_w, new_h = box.resized_size
    want = np.full((size_wh[1], size_wh[0], 3), 114, np.uint8)
    left, top = int(box.pad_x), int(box.pad_y)
    want[top : top + new_h, left : left + new_w] = cv2.resize(image, (new_w, new_h),
                                                              interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(canvas, want)
