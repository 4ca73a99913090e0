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
from visioncast.errors import SinkError
from visioncast.sinks.bus import Delivery


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

    def deliver(self, delivery: Delivery) -> None:
        """One line per frame; the end-of-stream events (a delivery without result) as one last line."""
        if delivery.result is None:
            if delivery.events:
                self._line({"events": delivery.events})
            return
        frame = delivery.frame
        where = {"frame": frame.index, "timestamp": round(frame.timestamp_s, 3)} if frame is not None else {}
        payload = result_to_payload(delivery.result, source=delivery.source, **where)
        self._line({"result": payload, "stats": delivery.stats, "events": delivery.events})

    def _line(self, obj: dict[str, Any]) -> None:
        try:
            self._file.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
            self._file.flush()
        except OSError as exc:
            raise SinkError(f"cannot write JSON lines to '{self.path}': {exc.strerror}") from exc
        self.lines += 1

    def close(self) -> None:
        if self._own:
            try:
                self._file.close()
            except OSError as exc:
                raise SinkError(f"cannot close JSON lines '{self.path}': {exc.strerror}") from exc
