"""Teacher sign-in for browsers: ``/signin`` (the printed link ``/signin?token=…``, or a form to paste the
token), ``/signout``. I/O: sets and clears the session cookie.

A good token sets an HttpOnly, SameSite=Strict cookie (Secure under TLS) holding an HMAC of the token, then
sends the browser on to the page it wanted with a page of its own (not an HTTP redirect: SameSite=Strict
cookies are not sent on a redirect that a scan of the QR code started from another app), so the token
leaves the address bar at once. That answer carries ``Referrer-Policy: no-referrer``; none is cached. The
access log shows ``token=…`` for the token.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request

from visioncast.server.auth.access import access
from visioncast.server.auth.core import (
    COOKIE,
    SESSION_MAX_AGE_S,
    SignInRequired,
    auth_of,
    client_id,
    current_role,
)
from visioncast.server.openapi import document, response

bp = Blueprint("signin", __name__)
_HTML = {200: response("the page", media_type="text/html")}


def _next_path(value: str | None) -> str:
    """Where to go after signing in: a path of this server only (never another site). Browsers drop tabs
    and line breaks from a URL (``/%09/host`` is ``//host``), so any control character or space refuses it."""
    if (not value or not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(ch.isspace() or not ch.isprintable() for ch in value)):
        return "/"
    return value


def signin_page(*, status: int = 200, message: str = "", next_path: str | None = None) -> Response:
    """The sign-in page (also what a student sees instead of a teacher-only page), in the visitor's
    language; ``message``: the catalogue key of what to say first (e.g. "signin.wrong_token")."""
    auth = auth_of(current_app)
    html = render_template("signin.html", message=message, next_path=_next_path(next_path or request.path),
                           has_token=auth.known_token() is not None or not auth.loopback_only)
    resp = Response(html, status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    # not no-referrer: under it a browser sends "Origin: null" with the form, which the origin check refuses
    resp.headers["Referrer-Policy"] = "same-origin"
    return resp


def _signed_in(next_path: str) -> Response:
    auth = auth_of(current_app)
    html = render_template("signed_in.html", next_path=next_path)
    resp = Response(html, mimetype="text/html")
    resp.set_cookie(COOKIE, auth.sessions.start(auth.token()), max_age=SESSION_MAX_AGE_S, httponly=True,
                    samesite="Strict", secure=request.is_secure, path="/")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.get("/signin")
@access("open")
@document("Teacher sign-in page; with ?token= (the printed link) signs this browser in", tags=["pages"],
          responses={**_HTML, 401: response("wrong token", media_type="text/html"),
                     429: response("too many wrong tokens from this address", media_type="text/html")})
def signin_get() -> Any:
    token = request.args.get("token")
    next_path = _next_path(request.args.get("next"))
    if token is None:
        return signin_page(next_path=next_path)
    if auth_of(current_app).check_token(token, client_id()):
        return _signed_in(next_path)
    return signin_page(status=401, message="signin.wrong_link",
                       next_path=next_path)


@bp.post("/signin")
@access("open")
@document("Sign in with the pasted teacher token (form field 'token')", tags=["pages"],
          responses={**_HTML, 401: response("wrong token", media_type="text/html"),
                     429: response("too many wrong tokens from this address", media_type="text/html")})
def signin_post() -> Any:
    next_path = _next_path(request.form.get("next"))
    if auth_of(current_app).check_token(request.form.get("token", ""), client_id()):
        return _signed_in(next_path)
    return signin_page(status=401, message="signin.wrong_token",
                       next_path=next_path)


@bp.post("/signout")
@access("open")
@document("Sign this browser out", tags=["pages"], responses=_HTML)
def signout() -> Any:
    auth_of(current_app).sessions.end(request.cookies.get(COOKIE, ""))
    resp = signin_page(message="signin.signed_out", next_path="/")
    resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=request.is_secure)
    return resp


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_error_handler(SignInRequired, lambda _: signin_page(
        status=401, message="signin.teacher_only"))

    @app.context_processor
    def _viewer() -> dict[str, Any]:
        return {"viewer_role": current_role()}
