"""visioncast.atomic: a file appears whole or not at all, with the asked permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from visioncast.atomic import atomic_path, write_atomic


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_atomic_replaces_and_sets_the_mode(tmp_path: Path):
    target = tmp_path / "sub" / "state.json"
    write_atomic(target, b"one")
    write_atomic(target, b"two", mode=0o600, fsync=True)
    assert target.read_bytes() == b"two"
    if os.name != "nt":
        assert mode_of(target) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_a_writer_that_raises_leaves_the_old_file_and_no_temporary(tmp_path: Path):
    target = tmp_path / "video.webm"
    target.write_bytes(b"old")
    seen: list[Path] = []

    def write_half() -> None:
        with atomic_path(target) as part:
            seen.append(part)
            part.write_bytes(b"half")
            raise RuntimeError("the encoder died")

    with pytest.raises(RuntimeError, match="encoder died"):
        write_half()
    assert seen[0].parent == tmp_path
    assert seen[0].name.startswith(".video.webm.")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["video.webm"]
