"""A video job's folder on disk: ``job.json`` (its state) and ``results.jsonl`` (one frame's result per line,
appended as it is produced), so jobs survive a restart of the server, also a ``kill -9``. I/O: files.

``job.json`` is written aside and moved into place (``os.replace``) at each change of state, so a reader
never sees half of it. A result line is written whole by one ``write`` as soon as the frame is done: after a
``kill -9`` the kernel still has it, nothing is lost. Lines are ``fsync``'d at most once per
``FSYNC_INTERVAL_S`` and when the job's pipeline closes, which bounds what a power cut can lose without a disk
flush per frame (measured in docs/benchmarks.md). A last line cut short by a crash is dropped when the file is
read back, and the file is cut to its last whole line before anything is appended.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from visioncast.atomic import write_atomic
from visioncast.errors import SinkError

log = logging.getLogger(__name__)
META = "job.json"
RESULTS = "results.jsonl"
FSYNC_INTERVAL_S = 1.0


class JobStore:
    """The files of one job folder. Thread-safe. ``fsync_interval_s``: 0 syncs every result line."""

    def __init__(self, folder: Path, *, fsync_interval_s: float = FSYNC_INTERVAL_S) -> None:
        self.folder = folder
        self.fsync_interval_s = fsync_interval_s
        self._file: BinaryIO | None = None
        self._synced_s = 0.0
        self._lock = threading.Lock()

    def save_meta(self, meta: dict[str, Any]) -> None:
        """Replace ``job.json`` with ``meta`` atomically. SinkError when the disk refuses."""
        try:
            data = json.dumps(meta, ensure_ascii=False, indent=1).encode()
            write_atomic(self.folder / META, data, fsync=True)
        except OSError as exc:
            raise SinkError(f"cannot save the state of video job {self.folder.name}: {exc.strerror}") from exc

    def load_meta(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none or it is unreadable."""
        try:
            meta = json.loads((self.folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) else None

    def load_results(self) -> list[dict[str, Any]]:
        """The saved results in order; a damaged tail (a line cut by a crash) is dropped from the file too."""
        path = self.folder / RESULTS
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        results, good = [], 0
        for line in data.splitlines(keepends=True):
            try:
                item = json.loads(line) if line.endswith(b"\n") else None
            except ValueError:
                item = None
            if not isinstance(item, dict) or "frame" not in item:
                break
            results.append(item)
            good += len(line)
        if good < len(data):
            log.warning("video job %s: dropped %d damaged bytes at the end of %s", self.folder.name,
                        len(data) - good, RESULTS)
            with path.open("r+b") as fh:
                fh.truncate(good)
        return results

    def append(self, payload: dict[str, Any]) -> None:
        """Append one result line (written at once; fsync'd at most every ``fsync_interval_s``)."""
        line = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            try:
                if self._file is None:
                    self._file = (self.folder / RESULTS).open("ab", buffering=0)
                self._file.write(line)
                now = time.monotonic()
                if now - self._synced_s >= self.fsync_interval_s:
                    os.fsync(self._file.fileno())
                    self._synced_s = now
            except OSError as exc:
                raise SinkError(f"cannot save the results of video job {self.folder.name}: "
                                f"{exc.strerror}") from exc

    def close(self) -> None:
        """Flush the results to disk and close the file (appending again reopens it)."""
        with self._lock:
            if self._file is None:
                return
            try:
                os.fsync(self._file.fileno())
            except OSError as exc:
                log.warning("video job %s: fsync of %s failed: %s", self.folder.name, RESULTS, exc)
            self._file.close()
            self._file = None
