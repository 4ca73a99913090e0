"""JSON lines of a run: one line per processed frame with its result, statistics and events. I/O: writes.

Each line is ``{"result": <result payload with source, frame, timestamp>, "stats": <statistics snapshot>,
"events": [...]}`` (schemas in docs/pipeline.md); end-of-stream events (tracks still present at the end)
follow as one last line ``{"events": [...]}``. Lines are flushed as they are written, so ``tail -f`` follows a
live run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from visioncast.core.payload import result_to_payload
from visioncast.core.types import Frame, Result
from visioncast.errors import SinkError


class JsonlSink:
    """Appends one JSON object per frame to ``path`` (``-`` = standard output)."""

    needs_image = False

    def __init__(self, path: str | Path, *, stream: TextIO | None = None) -> None:
        self.path = str(path)
        try:
            self._file = stream or Path(path).expanduser().open("w", encoding="utf-8")
        except OSError as exc:
            raise SinkError(f"cannot open JSON lines output '{path}': {exc.strerror}") from exc
        self._own = stream is None
        self.lines = 0

    def write(
        self, frame: Frame, result: Result, *, stats: dict[str, Any], events: list[dict[str, Any]], **_: Any
    ) -> None:
        payload = result_to_payload(
            result, source=stats["source"], frame=frame.index, timestamp=round(frame.timestamp_s, 3)
        )
        self._line({"result": payload, "stats": stats, "events": events})

    def write_events(self, events: list[dict[str, Any]]) -> None:
        """The end-of-stream events, as one last line (nothing when there are none)."""
        if events:
            self._line({"events": events})

    def _line(self, obj: dict[str, Any]) -> None:
        try:
            self._file.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
            self._file.flush()
        except OSError as exc:
            raise SinkError(f"cannot write JSON lines to '{self.path}': {exc.strerror}") from exc
        self.lines += 1

    def close(self) -> None:
        if self._own:
            self._file.close()
