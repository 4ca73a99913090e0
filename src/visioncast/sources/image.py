"""Still images in: bytes or files → BGR uint8 arrays, decided by what the data is. I/O: reads files.

The header is read first (Pillow, no pixel decoding) so a bogus or gigantic image is refused before any memory
is spent. The format found in the data, never the file name, picks the decoder: JPEG, PNG, BMP, WebP and TIFF
pixels are decoded by OpenCV, HEIC/HEIF (iPhone photos; the pillow-heif package) and AVIF (Pillow's own
plugin) by Pillow. A JPEG is cut at the end-of-image marker of its primary image, found by walking its
segments (:func:`jpeg_end`): what follows is not part of the picture — the MP4 of a Pixel/Samsung "motion
photo", the second image of a Multi-Picture file — and a JPEG whose segments run out before that marker is
refused as truncated.

Every still comes through :func:`decode_image` (the API, the pages' and the teach page's uploads, teach zips,
``detect``/``classify``/``pose``/``face``, ``predict``'s local drawing, folders and images of ``run``), so
this is where a phone photo is turned upright: the EXIF orientation (1–8) of a JPEG or AVIF is applied to the
pixels (pillow-heif applies a HEIF's own rotation itself), and width, height and every box are in the
orientation people see. An image no model can take (a side under ``MIN_SIDE`` pixels, or longer than
``MAX_ASPECT`` times its other side, such as 2000×2) is an InputError here rather than a failure inside a
model.
"""

from __future__ import annotations

import functools
import io
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from visioncast.core.types import Frame
from visioncast.errors import InputError, TooLargeError, UnsupportedMediaError

OPENCV_FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "TIFF")
PILLOW_FORMATS = ("HEIF", "AVIF")
FORMATS = OPENCV_FORMATS + PILLOW_FORMATS
KINDS = "JPEG/PNG/BMP/WebP/TIFF/HEIC/AVIF"
WRITABLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")  # cv2.imwrite's
IMAGE_SUFFIXES = (*WRITABLE_SUFFIXES, ".heic", ".heif", ".hif", ".avif")
DEFAULT_MAX_PIXELS = 40_000_000
MIN_SIDE = 2
MAX_ASPECT = 50  # a 416-pixel model input keeps ≥ 8 pixels of the short side
EXIF_ORIENTATION = 0x0112
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
# Inside a JPEG's entropy-coded data a marker is 0xFF followed by anything but 0x00 (a stuffed 0xFF byte),
# 0xD0–0xD7 (restart markers, part of the scan) or 0xFF (fill).
_SCAN_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")


class UnsupportedImageError(UnsupportedMediaError):
    """The bytes are not an image kind visioncast decodes; ``kind`` names what they are ('GIF', 'text')."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message, code="image_unsupported")
        self.kind = kind


@functools.cache
def heif_available() -> bool:
    """Register pillow-heif's HEIF opener with Pillow (once); False when the package is not installed."""
    try:
        import pillow_heif  # noqa: PLC0415 - optional: a HEIC photo is refused with a hint without it
    except ImportError:
        return False
    pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    return True


def _unidentified(data: bytes, name: str) -> UnsupportedImageError:
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:  # only without pillow-heif
        return UnsupportedImageError(f"{name} is a HEIC/HEIF photo, which needs the pillow-heif package "
                                     f"(pip install pillow-heif)", kind="HEIC without pillow-heif")
    kind = "text" if _looks_like_text(data) else "unrecognised binary data"
    return UnsupportedImageError(f"{name} must be a {KINDS} image, got {kind} ({len(data)} bytes)", kind=kind)


def _sniff(data: bytes, name: str) -> tuple[str, int, int, int]:
    """(format, width, height, EXIF orientation 1–8) from the header only; width and height as stored."""
    if not data:
        raise InputError(f"{name} is empty (0 bytes); expected a {KINDS} image", code="image_empty")
    heif_available()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                # JPEG and AVIF keep EXIF in their header (Pillow turns an AVIF's irot/imir into it; a
                # HEIF comes upright from pillow-heif); reading a PNG's would decode the whole file
                orientation = img.getexif().get(EXIF_ORIENTATION, 1) if img.format in ("JPEG", "AVIF") else 1
                orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
                return str(img.format), int(img.width), int(img.height), orientation
    except Image.DecompressionBombError as exc:
        raise TooLargeError(f"{name} is far too large to decode: {exc}", code="image_too_large") from exc
    except UnidentifiedImageError as exc:
        raise _unidentified(data, name) from exc
    except (OSError, SyntaxError, ValueError, RuntimeError) as exc:  # pillow-heif raises RuntimeError
        raise InputError(f"{name} has a corrupt image header: {exc}", code="image_corrupt") from exc


def _looks_like_text(data: bytes) -> bool:
    head = data[:512]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def jpeg_end(data: bytes) -> int | None:
    """The offset just past the end-of-image marker of the JPEG that starts ``data``, or None when its
    segments run out first (truncated or corrupt). Segments are skipped by their lengths and scans by their
    markers, so an EXIF thumbnail's own markers and whatever follows the image are never taken for its end."""
    pos, size = 2, len(data)  # after the start-of-image marker
    while pos + 2 <= size:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xD9:
            return pos + 2
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        if pos + 4 > size:
            return None
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2:
            return None
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next marker
            found = _SCAN_MARKER.search(data, pos)
            if found is None:
                return None
            pos = found.start()
    return None


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


def _check_size(name: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise TooLargeError(f"{name} is {width}×{height} = {width * height / 1e6:.0f} megapixels; "
                            f"the limit is {max_pixels / 1e6:.0f} megapixels", code="image_too_large")
    if min(width, height) < MIN_SIDE:
        raise InputError(f"{name} is {width}×{height} pixels; at least {MIN_SIDE}×{MIN_SIDE} is needed",
                         code="image_too_small")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise InputError(f"{name} is {width}×{height} pixels: too long and thin for a model (one side may be "
                         f"at most {MAX_ASPECT} times the other)", code="image_too_thin")


def _pixels(data: bytes, fmt: str, name: str) -> np.ndarray | None:
    """The stored pixels (BGR) of an image whose header was read, or None when they cannot be decoded."""
    if fmt in PILLOW_FORMATS:
        try:
            with Image.open(io.BytesIO(data)) as img:
                rgb = np.asarray(img.convert("RGB"))
        except (OSError, SyntaxError, ValueError, RuntimeError):
            return None
        return np.ascontiguousarray(rgb[..., ::-1])
    end = jpeg_end(data) if fmt == "JPEG" else len(data)
    if end is None:
        raise InputError(f"{name} is a truncated or corrupt JPEG (its data ends before the end-of-image "
                         f"marker)", code="image_corrupt")
    buffer = np.frombuffer(data, np.uint8, count=end)
    return cv2.imdecode(buffer, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)


def decode_image(data: bytes, *, name: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Encoded image bytes → BGR uint8 H×W×3, upright (EXIF orientation applied);
    InputError/UnsupportedMediaError/TooLargeError on bad input."""
    fmt, width, height, orientation = _sniff(data, name)
    if fmt not in FORMATS:
        raise UnsupportedImageError(f"{name} must be a {KINDS} image, got {fmt}", kind=fmt)
    _check_size(name, width, height, max_pixels)
    image = _pixels(data, fmt, name)
    if image is None or image.shape[:2] != (height, width):
        raise InputError(f"{name} is a corrupt {fmt} image: its {width}×{height} pixels could not be decoded",
                         code="image_corrupt")
    return upright(image, orientation)


def image_kind(path: str | Path) -> str | None:
    """The image format a file's header names ('JPEG', 'HEIF', 'GIF', …), or None when it is no image
    Pillow knows (a video, text, a missing file). Reads only the header."""
    heif_available()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(Path(path)) as img:
                return str(img.format)
    except (OSError, SyntaxError, ValueError, RuntimeError, Image.DecompressionBombError):
        return None


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
