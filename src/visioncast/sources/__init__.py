"""Sources: the I/O edge that yields Frames (images, uploaded bytes; video, camera and streams)."""

from __future__ import annotations
