"""Prefetch: frames come out in order, an early exit stops and joins the reader, a source error reaches the
consumer. Real threads, real frames."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from visioncast.core.types import Frame
from visioncast.errors import SourceError
from visioncast.sources.prefetch import Prefetch


def frames(n: int, *, fail_at: int | None = None) -> Iterator[Frame]:
    for i in range(n):
        if i == fail_at:
            raise SourceError(f"lost at frame {i}")
        yield Frame(np.full((4, 4, 3), i, np.uint8), i, i / 10)


def test_every_frame_in_order() -> None:
    with Prefetch(frames(50), 4) as ahead:
        got = [f.index for f in ahead]
    assert got == list(range(50))


def test_leaving_early_stops_and_joins_the_reader() -> None:
    prefetch = Prefetch(frames(1000), 2)
    with prefetch as ahead:
        for frame in ahead:
            if frame.index == 3:
                break
    assert not prefetch._thread.is_alive()


def test_a_source_error_reaches_the_consumer_after_the_good_frames() -> None:
    seen = []
    with pytest.raises(SourceError, match="lost at frame 5"), Prefetch(frames(10, fail_at=5), 3) as ahead:
        seen.extend(f.index for f in ahead)
    assert seen == [0, 1, 2, 3, 4]
