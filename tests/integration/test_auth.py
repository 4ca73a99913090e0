"""Who may do what, through Flask's test client: the teacher's token (bearer, sign-in link, pasted), the
session cookie, students, loopback-only servers, the Host and Origin checks and the security headers."""

from __future__ import annotations

import argparse
import io
import logging
import stat
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from visioncast import config
from visioncast.cli.serve import ServeContext, print_signin
from visioncast.network import lan_addresses
from visioncast.server.app import create_app
from visioncast.server.auth.core import COOKIE, auth_of, own_addresses
from visioncast.server.wsgi import HttpServer

LAN_CLIENT = {"REMOTE_ADDR": "192.0.2.77"}
TOKEN = "class-7b-secret-token"


@pytest.fixture
def lan_app(make_app: Any) -> Flask:
    return make_app(server__host="0.0.0.0", server__token=TOKEN)


@pytest.fixture
def student(lan_app: Flask) -> FlaskClient:
    client = lan_app.test_client()
    client.environ_base.update(LAN_CLIENT)
    return client


def test_a_student_is_refused_teacher_routes_with_401_and_told_how(student: FlaskClient) -> None:
    answer = student.put("/api/v1/mqtt", json={"host": "198.51.100.9"})
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "teacher_only"
    assert "Authorization: Bearer" in answer.get_json()["message"]
    assert student.get("/api/v1/mqtt").status_code == 401
    assert student.post("/api/v1/streams", json={"source": "CAM"}).status_code == 401


def test_a_teacher_page_shows_the_sign_in_form_to_a_student(student: FlaskClient) -> None:
    page = student.get("/mqtt")
    assert page.status_code == 401
    text = page.get_data(as_text=True)
    assert "Teacher only — sign in" in text
    assert 'name="token"' in text
    assert 'name="next" value="/mqtt"' in text


def test_student_routes_stay_open_to_students(student: FlaskClient) -> None:
    for path in ("/", "/detect", "/classify", "/video", "/webcam", "/streams", "/api/v1/models",
                 "/healthz", "/readyz", "/openapi.json", "/static/app.css"):
        with student.get(path) as answer:
            assert answer.status_code in (200, 503), path  # /readyz: 503 until warmed up
    assert "Teacher sign in" in student.get("/").get_data(as_text=True)


def test_the_bearer_token_makes_the_teacher(student: FlaskClient) -> None:
    assert student.get("/api/v1/mqtt", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert student.get("/api/v1/mqtt", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert student.get("/api/v1/mqtt", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401


def test_the_sign_in_link_sets_a_strict_httponly_cookie_and_drops_the_token(student: FlaskClient) -> None:
    answer = student.get(f"/signin?token={TOKEN}&next=/mqtt")
    assert answer.status_code == 200
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert TOKEN not in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["Cache-Control"] == "no-store"
    assert 'content="0; url=/mqtt"' in answer.get_data(as_text=True)
    assert student.get("/mqtt").status_code == 200
    assert "nav-role" in student.get("/").get_data(as_text=True)


@pytest.mark.parametrize("next_path", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_sign_in_never_sends_the_browser_to_another_site(student: FlaskClient, next_path: str) -> None:
    answer = student.get("/signin", query_string={"token": TOKEN, "next": next_path})
    assert 'content="0; url=/"' in answer.get_data(as_text=True)


def test_a_wrong_sign_in_link_or_pasted_token_is_401(student: FlaskClient) -> None:
    assert student.get("/signin?token=nope").status_code == 401
    answer = student.post("/signin", data={"token": "nope"}, headers={"Origin": "http://localhost"})
    assert answer.status_code == 401
    assert "Set-Cookie" not in answer.headers
    pasted = student.post("/signin", data={"token": f" {TOKEN}\n", "next": "/streams"},
                          headers={"Origin": "http://localhost"})
    assert pasted.status_code == 200
    assert COOKIE in pasted.headers["Set-Cookie"]


def test_a_cookie_change_needs_this_servers_origin(student: FlaskClient) -> None:
    student.get(f"/signin?token={TOKEN}")
    body = {"qos": 0}

    def put(**headers: str) -> Any:
        return student.put("/api/v1/mqtt", json=body, headers=headers)

    assert put().status_code == 403  # no Origin, no Referer
    assert put(Origin="http://evil.example").status_code == 403
    assert put(Origin="null").status_code == 403
    # past the guard: what the settings themselves answer is test_mqtt_push's business
    assert put(Origin="http://localhost").status_code not in (401, 403)
    assert put(Referer="http://localhost/mqtt").status_code not in (401, 403)


def test_signing_out_ends_the_session(student: FlaskClient) -> None:
    student.get(f"/signin?token={TOKEN}")
    assert student.post("/signout", headers={"Origin": "http://localhost"}).status_code == 200
    assert student.get("/api/v1/mqtt").status_code == 401


def test_another_sites_page_cannot_post_even_as_a_student(student: FlaskClient, data_dir: Path) -> None:
    bus = (data_dir / "bus.jpg").read_bytes()
    answer = student.post("/api/v1/detect", data=bus, content_type="image/jpeg",
                          headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403
    assert answer.get_json()["error"] == "cross_origin"
    referred = student.post("/api/v1/detect", data=bus, content_type="image/jpeg",
                            headers={"Referer": "http://evil.example/page.html"})
    assert referred.status_code == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5000", "10.11.12.13",
                                  "localhost.evil.example"])
def test_a_host_header_naming_another_server_is_400(student: FlaskClient, host: str) -> None:
    answer = student.get("/api/v1/models", headers={"Host": host})
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "bad_host"


def test_the_servers_own_names_are_accepted(tmp_path: Path, make_app: Any) -> None:
    app = make_app(server__host="0.0.0.0", server__hosts=["visioncast.lan"])
    client = app.test_client()
    lan = [f"[{a}]" if ":" in a else a for a in sorted(own_addresses())]
    for host in ("localhost:5000", "127.0.0.1", "[::1]:5000", "VisionCast.LAN", *lan):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host


def test_metrics_are_for_this_computer_or_the_teacher(student: FlaskClient, lan_app: Flask) -> None:
    assert student.get("/metrics").status_code == 403
    assert student.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert lan_app.test_client().get("/metrics").status_code == 200  # loopback


def test_on_a_lan_server_loopback_is_a_student_too(lan_app: Flask) -> None:
    assert lan_app.test_client().get("/api/v1/mqtt").status_code == 401


def test_a_loopback_only_server_trusts_its_keyboard_and_no_one_else(tmp_path: Path, make_app: Any) -> None:
    app = make_app()  # server.host 127.0.0.1
    assert app.test_client().get("/api/v1/mqtt").status_code == 200
    other = app.test_client()
    other.environ_base.update(LAN_CLIENT)
    assert other.get("/api/v1/mqtt").status_code == 401
    assert not (tmp_path / "token").exists()  # nobody needed one
    assert "whoever uses it here is the teacher" in app.test_client().get("/signin").get_data(as_text=True)


def test_the_generated_token_is_kept_private_and_reused(tmp_path: Path, make_app: Any) -> None:
    first = auth_of(make_app(server__host="0.0.0.0")).token()
    path = tmp_path / "token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 24
    assert auth_of(make_app(server__host="0.0.0.0")).token() == first
    configured = "from-the-config-file"
    assert auth_of(make_app(server__host="0.0.0.0", server__token=configured)).token() == configured


def test_pages_carry_a_content_security_policy_and_the_api_nosniff(student: FlaskClient) -> None:
    page = student.get("/detect")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert student.get("/api/v1/models").headers["X-Content-Type-Options"] == "nosniff"


def test_serve_prints_the_teachers_sign_in_link_and_qr_code_on_a_lan_server(tmp_path: Path) -> None:
    cfg = config.load(env={}, overrides={"data_dir": str(tmp_path), "server.host": "0.0.0.0",
                                         "mqtt.enabled": False, "broker.enabled": False})
    app = create_app(cfg)
    out = io.StringIO()
    with HttpServer(app, "127.0.0.1", 0, workers=1) as server:  # listens on loopback; the config says LAN
        print_signin(ServeContext(argparse.Namespace(), cfg, app, out=out, server=server))
        token = (tmp_path / "token").read_text().strip()
        link = f"http://{lan_addresses()[0]}:{server.port}/signin?token={token}"
        text = out.getvalue()
        assert link in text
        assert "█" in text or "▀" in text
        answer = requests.get(link.replace(lan_addresses()[0], "127.0.0.1"), timeout=10)
        assert answer.status_code == 200
        assert COOKIE in answer.headers["Set-Cookie"]


def test_serve_prints_no_sign_in_link_on_a_loopback_server(tmp_path: Path) -> None:
    cfg = config.load(env={}, overrides={"data_dir": str(tmp_path), "mqtt.enabled": False,
                                         "broker.enabled": False})
    app = create_app(cfg)
    out = io.StringIO()
    print_signin(ServeContext(argparse.Namespace(), cfg, app, out=out, server=None))
    assert out.getvalue() == ""
    assert not (tmp_path / "token").exists()


def test_the_access_log_never_shows_the_token(student: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    from visioncast.server.metrics import access_log  # noqa: PLC0415 — the logger serve prints

    access_log.setLevel(logging.INFO)
    try:
        with caplog.at_level(logging.INFO, logger=access_log.name):
            student.get(f"/signin?token={TOKEN}&next=/mqtt")
    finally:
        access_log.setLevel(logging.NOTSET)
    assert "/signin?token=…&next=/mqtt 200" in caplog.text
    assert TOKEN not in caplog.text


def test_the_teach_page_shows_the_server_model_step_to_the_teacher_only(student: FlaskClient) -> None:
    """"Make it a server model" changes the server for everyone: a student does not see the step."""
    assert 'id="use-form"' not in student.get("/teach").get_data(as_text=True)
    teacher = student.get("/teach", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    assert 'id="use-form"' in teacher
