"""Every route says who may call it (a new route without ``@access`` fails here), and the teacher-only routes
are the ones docs/security.md lists."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from visioncast import config
from visioncast.server.app import create_app
from visioncast.server.auth.access import ROLES, access, role_of

TEACHER_ONLY = {
    ("/api/v1/mqtt", "GET"), ("/api/v1/mqtt", "PUT"), ("/mqtt", "GET"),
    ("/api/v1/streams", "POST"), ("/api/v1/streams/<stream_id>", "DELETE"),
    ("/api/v1/teach/projects/<pid>/use", "POST"),
}
OPEN = {("/healthz", "GET"), ("/readyz", "GET"), ("/openapi.json", "GET"), ("/static/<path:filename>", "GET"),
        ("/signin", "GET"), ("/signin", "POST"), ("/signout", "POST"), ("/api-docs", "GET"),
        ("/samples/<name>", "GET"), ("/v2", "GET"), ("/v2/health/live", "GET"), ("/v2/health/ready", "GET")}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    data = tmp_path_factory.mktemp("access")
    return create_app(config.load(env={}, overrides={"data_dir": str(data), "mqtt.enabled": False}))


def routes(app: Flask) -> dict[tuple[str, str], str | None]:
    return {(rule.rule, method): role_of(app.view_functions[rule.endpoint])
            for rule in app.url_map.iter_rules()
            for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}


def test_every_route_is_marked(app: Flask) -> None:
    unmarked = sorted(f"{method} {rule}" for (rule, method), role in routes(app).items() if role is None)
    assert unmarked == [], f"add @access(...) to: {unmarked}"


def test_the_roles_are_the_documented_ones(app: Flask) -> None:
    marks = routes(app)
    assert {key for key, role in marks.items() if role == "teacher"} == TEACHER_ONLY
    assert {key for key, role in marks.items() if role == "open"} == OPEN
    assert {key for key, role in marks.items() if role == "local"} == {("/metrics", "GET")}
    assert set(marks.values()) <= set(ROLES)


def test_an_unmarked_route_is_refused_not_served(tmp_path: Path) -> None:
    app = create_app(config.load(env={}, overrides={"data_dir": str(tmp_path), "mqtt.enabled": False}))
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    answer = app.test_client().get("/forgotten")
    assert answer.status_code == 403
    assert b"secret" not in answer.data


def test_access_refuses_an_unknown_role() -> None:
    with pytest.raises(ValueError, match="role must be one of open, local, student, teacher, got 'admin'"):
        access("admin")
