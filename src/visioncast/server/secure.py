"""Plain http from another device, when the same port also answers https: a page that sends the visitor to
the https address. I/O: none.

Phones allow a page the camera only over https (or on the computer itself), and a student types the
address without ``https://``. So a page opened over plain http from another device answers with a short page
in the visitor's language: a button to the same page over https and what to tap on the certificate
warning the browser shows once (the certificate is the server's own, :mod:`visioncast.server.tls`). A link
on it goes on over plain http without the live camera (photos still work): that choice is remembered in a
cookie. The JSON API, static files, metrics and health checks are never held back (boards, scripts and
``curl`` speak plain http), nor is an address of the computer itself (``localhost``, ``127.0.0.1`` and
``[::1]`` are secure origins even over http): what counts is the address the browser opened.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, make_response, render_template, request

from visioncast.network import is_loopback
from visioncast.server.wsgi import HTTPS_KEY

COOKIE = "visioncast_http"  # "1": this browser chose plain http without the camera
GO_ON = "http"  # ?http=1: go on over plain http (the link on the page)
NOT_PAGES = ("/api/", "/static/", "/v2", "/metrics", "/healthz", "/readyz", "/openapi.json")
COOKIE_AGE_S = 12 * 3600  # a school day: the next lesson offers https again


def wants_https_page() -> bool:
    """True when this request is a browser opening a page over plain http from another device, on a
    server that also answers https, and the visitor has not chosen to go on without the camera."""
    if request.scheme == "https" or not request.environ.get(HTTPS_KEY):
        return False
    if request.method != "GET" or "text/html" not in request.headers.get("Accept", ""):
        return False
    host = _hostname()
    if request.path.startswith(NOT_PAGES) or host == "localhost" or is_loopback(host):
        return False
    return request.cookies.get(COOKIE) != "1" and request.args.get(GO_ON) != "1"


def _hostname() -> str:
    """The host the browser opened, without port or brackets ("192.168.1.5", "::1", "localhost")."""
    try:
        return urlsplit(f"//{request.host}").hostname or ""
    except ValueError:  # a malformed Host header
        return ""


def https_page() -> Response | None:
    """The page pointing at this address over https (before_request), or None to answer as usual."""
    if not wants_https_page():
        return None
    path = request.full_path.rstrip("?")
    go_on = f"{request.path}?{request.query_string.decode('latin-1')}&{GO_ON}=1".replace("?&", "?")
    answer = make_response(render_template(
        "secure.html", https_url=f"https://{request.host}{path}", http_url=go_on,
        host=_hostname()))
    answer.headers["Cache-Control"] = "no-store"
    return answer


def remember_plain_http(answer: Response) -> Response:
    """Remember the visitor's choice to go on over plain http (after_request)."""
    if request.scheme == "http" and request.args.get(GO_ON) == "1" and request.environ.get(HTTPS_KEY):
        answer.set_cookie(COOKIE, "1", max_age=COOKIE_AGE_S, samesite="Lax", httponly=True)
    return answer


def https_address() -> str:
    """This page over https when it was opened over plain http on a server that also answers https ("" when
    not): the templates' link to where the live camera works."""
    if request.scheme == "https" or not request.environ.get(HTTPS_KEY):
        return ""
    return f"https://{request.host}{request.full_path.rstrip('?')}"


def register(app: Flask) -> None:
    app.before_request(https_page)
    app.after_request(remember_plain_http)
    app.context_processor(lambda: {"https_address": https_address})
