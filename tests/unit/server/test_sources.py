"""server/sources.py: whose source name a student's result goes under (docs/security.md)."""

from __future__ import annotations

import pytest

from visioncast.server.sources import SourceNotYoursError, client_tag, student_source


def test_client_tags_keep_only_letters_and_digits() -> None:
    assert client_tag("192.168.1.23") == "192-168-1-23"
    assert client_tag("fe80::1%eth0") == "fe80-1-eth0"
    assert client_tag("") == "unknown"


@pytest.mark.parametrize(("name", "explicit", "expected"), [
    ("webcam", False, "webcam@10-0-0-5"),  # a page's default: the student's own
    ("webcam", True, "webcam@10-0-0-5"),
    ("board", True, "board"),  # shared by the teacher
    ("webcam@10-0-0-5", True, "webcam@10-0-0-5"),  # already the student's own
    ("cam2", False, "cam2@10-0-0-5"),  # a stream's name as a route default: tagged, never the stream's
    ("x" * 64, True, "x" * 55 + "@10-0-0-5"),  # still a topic level of at most 64 characters
])
def test_a_student_publishes_under_shared_or_own_names(name: str, explicit: bool, expected: str) -> None:
    got = student_source(name, client="10.0.0.5", explicit=explicit, shared={"board", "cam2"}, taken={"cam2"})
    assert got == expected


@pytest.mark.parametrize("name", ["cam2", "webcam@10-0-0-6", "x@y"])
def test_asking_for_someone_elses_name_is_refused(name: str) -> None:
    with pytest.raises(SourceNotYoursError, match="only the teacher"):
        student_source(name, client="10.0.0.5", explicit=True, shared={"cam2"}, taken={"cam2"})
