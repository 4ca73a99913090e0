"""Atomic file writes: the bytes go to a temporary file in the same folder, which is then renamed over the
target, so a reader (or a crash) never sees half a file. I/O: files.

:func:`write_atomic` writes bytes at hand; :func:`atomic_path` gives a temporary path for a writer that needs
one (a download) and moves it into place when that writer is done. State, settings, secrets, models and
results are written through one of them; a video render is written by its encoder into a known ``.part``
file (the page reads it while it grows) and renamed the same way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path, *, mode: int = 0o644) -> Iterator[Path]:
    """A fresh temporary path beside ``path`` (its folder created when missing, the file private until the
    end) to write; moved over ``path`` with permissions ``mode`` when the block ends, removed when it raises.
    It is the hidden ``.<name>.<random>.tmp``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` (its folder created when missing) atomically, with permissions ``mode``;
    ``fsync`` makes the bytes reach the disk before the rename (a state that must survive a power cut)."""
    with atomic_path(path, mode=mode) as tmp, tmp.open("wb") as out:
        out.write(data)
        if fsync:
            out.flush()
            os.fsync(out.fileno())
