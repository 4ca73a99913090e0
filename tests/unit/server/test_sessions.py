"""server/auth.py Sessions: a browser's sign-in is a server-side session that ends on sign-out, expires, and
does not survive a new token; kept across restarts in a 0600 file that holds no cookie value."""

from __future__ import annotations

import stat
from pathlib import Path

from visioncast.server.auth.core import Sessions


def test_a_session_ends_on_sign_out_and_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    sid = Sessions(path).start("a-long-teacher-token")
    assert Sessions(path).valid(sid, "a-long-teacher-token")  # a restart keeps it
    assert not Sessions(path).valid(sid, "another-teacher-token")  # a new token ends it
    assert sid not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    Sessions(path).end(sid)
    assert not Sessions(path).valid(sid, "a-long-teacher-token")


def test_a_session_expires(tmp_path: Path) -> None:
    sessions = Sessions(tmp_path / "sessions.json", max_age_s=-1)
    assert not sessions.valid(sessions.start("a-long-teacher-token"), "a-long-teacher-token")


def test_a_damaged_file_signs_everyone_out(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    path.write_text("{not json")
    assert not Sessions(path).valid("anything", "a-long-teacher-token")
