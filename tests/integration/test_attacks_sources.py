"""Issue 27, "Sources belong to someone": a student's results never go out under a stream's, the teacher's
or another client's source name (the ``<source>`` of ``visioncast/<source>/label``), played from this
machine's LAN address against a live server. What the server's bus was handed is what the MQTT push
publishes (the same Dispatcher), so the recording sink on it sees every label a board would get.

Each test failed before the fix: ``?source=cam2`` from anyone was published under ``cam2``, and a student's
page results and teach tries under the shared ``webcam`` / ``teach``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from tests.integration.attack_server import (
    DATA,
    LAN,
    TEACHER,
    TIMEOUT_S,
    Live,
    live_server,
    refused,
    start_stream,
)
from tests.integration.test_teach_api import class_samples, jpeg

pytestmark = pytest.mark.skipif(LAN.startswith("127."), reason="this machine has no non-loopback address")
BUS = (DATA / "bus.jpg").read_bytes()
MINE = f"@{LAN.replace('.', '-')}"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(tmp_path_factory.mktemp("sources")) as server:
        yield server


def classify(base: str, query: str = "", headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(f"{base}/api/v1/classify{query}", data=BUS, timeout=TIMEOUT_S,
                         headers={"Content-Type": "image/jpeg", **(headers or {})})


def test_a_student_cannot_publish_under_a_running_streams_name(live: Live) -> None:
    stream = start_stream(live, "cam2", source="cifar10")
    try:
        body = refused(classify(live.lan, "?source=cam2"), 403, "source_not_yours")  # before: 200, published
        assert "only the teacher" in body["message"]
        assert classify(live.lan, "?source=cam2", headers=TEACHER).status_code == 200  # the teacher may
    finally:
        requests.delete(f"{live.lan}/api/v1/streams/{stream['id']}", headers=TEACHER, timeout=TIMEOUT_S)


def test_a_students_page_results_go_under_their_own_name(live: Live) -> None:
    before = len(live.sink.published)
    answer = classify(live.lan, "?source=webcam")
    assert answer.status_code == 200
    assert live.sources()[before:] == [f"webcam{MINE}"]


def test_a_student_cannot_take_another_students_own_name(live: Live) -> None:
    body = refused(classify(live.lan, "?source=webcam@10-0-0-7"), 403, "source_not_yours")
    assert "another client" in body["message"]


def test_a_name_the_teacher_shared_is_every_students(tmp_path: Path) -> None:
    with live_server(tmp_path, **{"server.shared_sources": ["class-board"]}) as live:
        assert classify(live.lan, "?source=class-board").status_code == 200
        assert classify(live.lan, "?source=webcam").status_code == 200
        assert live.sources() == ["class-board", f"webcam{MINE}"]


def test_teach_try_publishes_under_teach_only_for_the_project_the_teacher_chose(live: Live) -> None:
    api = f"{live.lan}/api/v1/teach/projects"
    project = requests.post(api, json={"name": "moods"}, timeout=TIMEOUT_S).json()
    samples = class_samples(6)
    for label in ("公交车", "球员"):
        project = requests.post(f"{api}/{project['id']}/classes", json={"name": label},
                                timeout=TIMEOUT_S).json()
        cid = project["classes"][-1]["id"]
        for image in samples[label]:
            added = requests.post(f"{api}/{project['id']}/classes/{cid}/samples", data=jpeg(image),
                                  headers={"Content-Type": "image/jpeg"}, timeout=TIMEOUT_S)
            assert added.status_code == 201
    assert requests.post(f"{api}/{project['id']}/train", timeout=3 * TIMEOUT_S).status_code == 200

    def tried(query: str = "") -> str:
        before = len(live.sink.published)
        answer = requests.post(f"{api}/{project['id']}/classify{query}", data=BUS, timeout=TIMEOUT_S,
                               headers={"Content-Type": "image/jpeg"})
        assert answer.status_code == 200, answer.text[:200]
        return live.sources()[before:][0]

    assert tried() == f"teach{MINE}"  # before: "teach", which every board of the class listens to
    assert tried("?source=teach") == f"teach{MINE}"
    assert board_topic(live, project=project["id"]) == f"visioncast/teach{MINE}/label"  # the board follows
    used = requests.post(f"{api}/{project['id']}/use", json={"name": "moods-model"}, headers=TEACHER,
                         timeout=TIMEOUT_S)
    assert used.status_code == 201, used.text[:200]
    assert tried() == "teach"  # the teacher chose this project: its tries are the class's
    assert board_topic(live, project=project["id"]) == "visioncast/teach/label"


def board_topic(live: Live, **body: str) -> str:
    """The topic of the MicroPython program the Teach page downloads for this student."""
    answer = requests.post(f"{live.lan}/api/v1/board-code", timeout=TIMEOUT_S,
                           json={"board": "micropython", "labels": {"公交车": "red"}, **body})
    assert answer.status_code == 200, answer.text[:200]
    return str(json.loads(answer.headers["X-Board-Program"])["topic"])


def test_a_students_board_listens_to_their_own_results_or_to_a_stream(live: Live) -> None:
    assert board_topic(live, source="webcam") == f"visioncast/webcam{MINE}/label"
    stream = start_stream(live, "cam3", source="cifar10")
    try:
        assert board_topic(live, source="cam3") == "visioncast/cam3/label"  # boards may follow a stream
    finally:
        requests.delete(f"{live.lan}/api/v1/streams/{stream['id']}", headers=TEACHER, timeout=TIMEOUT_S)
