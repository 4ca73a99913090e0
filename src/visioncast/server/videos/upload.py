"""An uploaded video: streamed into its job folder, then checked to be a video OpenCV decodes. I/O: the
request body, files.

``save_upload`` refuses a body over ``videos.max_upload_mb`` (413) and a request without the multipart field
``video`` (400); ``open_checked`` refuses a file that is not a video container (415, sniffed from its first
bytes) and one OpenCV cannot decode a frame of (400), with messages that name the uploaded file.
"""

from __future__ import annotations

from pathlib import Path

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from visioncast.errors import InputError, SourceError, TooLargeError, UnsupportedMediaError
from visioncast.sources.video import VideoFileSource, open_video

FIELD = "video"
SNIFF_BYTES = 64
FORMATS = "MP4, MOV, AVI, WebM or MKV"
KINDS = {"mp4": "an MP4/MOV", "avi": "an AVI", "matroska": "a WebM/MKV"}
MIME_TYPES = {"mp4": "video/mp4", "avi": "video/x-msvideo", "matroska": "video/webm"}  # served back as these


def sniff_container(head: bytes) -> str | None:
    """The container a file's first bytes name: 'mp4' (also MOV), 'avi', 'matroska' (also WebM) or None."""
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    return None


def save_upload(folder: Path, limit_mb: float) -> tuple[Path, str]:
    """Stream the multipart field ``video`` into ``folder``; (path, original name). 413 over ``limit_mb``."""
    request.max_content_length = int(limit_mb * 1024 * 1024)
    try:
        file = request.files.get(FIELD)
    except RequestEntityTooLarge as exc:
        raise TooLargeError(f"video is larger than the limit of {limit_mb:g} MB (videos.max_upload_mb)",
                            code="video_too_large") from exc
    if file is None:
        got = sorted({*request.files, *request.form}) or "none"
        raise InputError(f"send the video as a multipart file field 'video' (fields received: {got})",
                         code="no_video")
    name = Path(file.filename or "video").name
    path = folder / f"source{Path(name).suffix.lower()[:8] or '.bin'}"
    file.save(path)
    return path, name


def open_checked(path: Path, name: str) -> VideoFileSource:
    """Open the saved upload: 415 when it is not a video container, 400 when OpenCV cannot decode a frame."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise InputError(f"'{name}' is empty (0 bytes)", code="video_empty")
    kind = sniff_container(head)
    if kind is None:
        raise UnsupportedMediaError(f"'{name}' is not a video: expected {FORMATS}",
                                    code="video_unsupported")
    try:
        return open_video(path)
    except SourceError as exc:
        raise InputError(f"'{name}' looks like {KINDS[kind]} video but cannot be decoded (truncated, damaged "
                         f"or without video frames): {str(exc).replace(path.name, name)}",
                         code="video_corrupt") from exc
