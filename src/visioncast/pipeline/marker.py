"""The end-of-stream marker passed down the pipeline's queues (every stage passes it on, then stops). Pure."""

from __future__ import annotations

END = object()
