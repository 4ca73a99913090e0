"""Still images in: bytes or files → BGR uint8 arrays, checked before decoding. I/O: reads files.

The header is read first (Pillow, no pixel decoding) so a bogus or gigantic image is refused before any memory
is spent; pixels are then decoded by OpenCV. Errors say what was expected and what came.

Every still comes through :func:`decode_image` (the API, the pages' uploads, ``detect``/``classify``,
``predict``'s local drawing), so this is where a phone photo is turned upright: the EXIF orientation (1–8) is
applied to the pixels, and width, height and every box are in the orientation people see. An image no model
can take (a side under ``MIN_SIDE`` pixels, or longer than ``MAX_ASPECT`` times its other side, such as
2000×2) is an InputError here rather than a failure inside a model.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from visioncast.core.types import Frame
from visioncast.errors import InputError, TooLargeError, UnsupportedMediaError

FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "TIFF")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_MAX_PIXELS = 40_000_000
MIN_SIDE = 2
MAX_ASPECT = 50  # a 416-pixel model input keeps ≥ 8 pixels of the short side
EXIF_ORIENTATION = 0x0112


def _sniff(data: bytes, name: str) -> tuple[str, int, int, int]:
    """(format, width, height, EXIF orientation 1–8) from the header only; width and height as stored."""
    if not data:
        raise InputError(f"{name} is empty (0 bytes); expected a JPEG/PNG/BMP/WebP/TIFF image",
                         code="image_empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                # JPEG keeps EXIF in its header; reading a PNG's would decode the whole file
                orientation = img.getexif().get(EXIF_ORIENTATION, 1) if img.format == "JPEG" else 1
                orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
                return str(img.format), int(img.width), int(img.height), orientation
    except Image.DecompressionBombError as exc:
        raise TooLargeError(f"{name} is far too large to decode: {exc}", code="image_too_large") from exc
    except UnidentifiedImageError as exc:
        kind = "text" if _looks_like_text(data) else "unrecognised binary data"
        raise UnsupportedMediaError(
            f"{name} must be a JPEG/PNG/BMP/WebP/TIFF image, got {kind} ({len(data)} bytes)",
            code="image_unsupported") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{name} has a corrupt image header: {exc}",
                         code="image_corrupt") from exc


def _looks_like_text(data: bytes) -> bool:
    head = data[:512]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda im: cv2.flip(im, 1),
    3: lambda im: cv2.rotate(im, cv2.ROTATE_180),
    4: lambda im: cv2.flip(im, 0),
    5: lambda im: np.ascontiguousarray(im.transpose(1, 0, 2)),
    6: lambda im: cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE),
    7: lambda im: np.ascontiguousarray(im[::-1, ::-1].transpose(1, 0, 2)),
    8: lambda im: cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """``image`` as stored → as displayed, for EXIF orientation 1–8 (as Pillow's ``exif_transpose``)."""
    turn = _UPRIGHT.get(orientation)
    return turn(image) if turn is not None else image


def decode_image(data: bytes, *, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Encoded image bytes → BGR uint8 H×W×3, upright (EXIF orientation applied);
    InputError/UnsupportedMediaError/TooLargeError on bad input."""
    fmt, width, height, orientation = _sniff(data, name)
    if fmt not in FORMATS:
        raise UnsupportedMediaError(f"{name} must be a JPEG/PNG/BMP/WebP/TIFF image, got {fmt}",
                                    code="image_unsupported")
    if width * height > max_pixels:
        raise TooLargeError(f"{name} is {width}×{height} = {width * height / 1e6:.0f} megapixels; "
                            f"the limit is {max_pixels / 1e6:.0f} megapixels", code="image_too_large")
    if min(width, height) < MIN_SIDE:
        raise InputError(f"{name} is {width}×{height} pixels; at least {MIN_SIDE}×{MIN_SIDE} is needed",
                         code="image_too_small")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise InputError(f"{name} is {width}×{height} pixels: too long and thin for a model (one side may be "
                         f"at most {MAX_ASPECT} times the other)", code="image_too_thin")
    if fmt == "JPEG" and b"\xff\xd9" not in data[-4096:]:
        raise InputError(f"{name} is a truncated or corrupt JPEG (no end-of-image marker)",
                         code="image_corrupt")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None or image.shape[:2] != (height, width):
        raise InputError(f"{name} is a corrupt {fmt} image: its {width}×{height} pixels could not be decoded",
                         code="image_corrupt")
    return upright(image, orientation)


def read_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read and decode an image file; InputError naming the path when missing or bad."""
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"image file not found: '{path}'") from exc
    except IsADirectoryError as exc:
        raise InputError(f"expected an image file, got a directory: '{path}'") from exc
    except OSError as exc:
        raise InputError(f"cannot read '{path}': {exc.strerror}") from exc
    return decode_image(data, name=f"'{path}'", max_pixels=max_pixels)


def image_frame(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Frame:
    """A Frame for one image file (index 0, source = the file name)."""
    return Frame(read_image(path, max_pixels=max_pixels), 0, 0.0, Path(path).name)
