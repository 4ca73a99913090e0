"""Still images in: bytes or files → BGR uint8 arrays, checked before decoding. I/O: reads files.

The header is read first (Pillow, no pixel decoding) so a bogus or gigantic image is refused before any memory
is spent; pixels are then decoded by OpenCV. Errors say what was expected and what came.
"""

from __future__ import annotations

import io
import warnings
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


def _sniff(data: bytes, name: str) -> tuple[str, int, int]:
    """(format, width, height) from the header only."""
    if not data:
        raise InputError(f"{name} is empty (0 bytes); expected a JPEG/PNG/BMP/WebP/TIFF image",
                         code="image_empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                return str(img.format), int(img.width), int(img.height)
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


def decode_image(data: bytes, *, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Encoded image bytes → BGR uint8 H×W×3; InputError/UnsupportedMediaError/TooLargeError on bad input."""
    fmt, width, height = _sniff(data, name)
    if fmt not in FORMATS:
        raise UnsupportedMediaError(f"{name} must be a JPEG/PNG/BMP/WebP/TIFF image, got {fmt}",
                                    code="image_unsupported")
    if width * height > max_pixels:
        raise TooLargeError(f"{name} is {width}×{height} = {width * height / 1e6:.0f} megapixels; "
                            f"the limit is {max_pixels / 1e6:.0f} megapixels", code="image_too_large")
    if min(width, height) < MIN_SIDE:
        raise InputError(f"{name} is {width}×{height} pixels; at least {MIN_SIDE}×{MIN_SIDE} is needed",
                         code="image_too_small")
    if fmt == "JPEG" and b"\xff\xd9" not in data[-4096:]:
        raise InputError(f"{name} is a truncated or corrupt JPEG (no end-of-image marker)",
                         code="image_corrupt")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.shape[:2] != (height, width):
        raise InputError(f"{name} is a corrupt {fmt} image: its {width}×{height} pixels could not be decoded",
                         code="image_corrupt")
    return image


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
