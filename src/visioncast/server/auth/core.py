"""Who is calling and whether they may: the teacher's token, sign-in cookies, the role of every route, the
Host and Origin checks, the security headers of every answer. I/O: reads/writes ``<data_dir>/token`` (0600).

One ``before_request`` does it all, reading the route's mark (:func:`visioncast.server.auth.access.access`):

1. the Host header must name this server (its addresses, ``localhost``, its host name, ``server.hosts``):
   a page of another site that rebinds its DNS name to this server is refused (400);
2. the caller is the *teacher* with ``Authorization: Bearer <token>``, with the session cookie set by
   ``/signin``, or — on a server bound to loopback only — from loopback (the person at the keyboard);
   anyone else is a *student*;
3. a request that changes something (POST, PUT, PATCH, DELETE) whose Origin (or Referer) is another site's
   is refused (403); so is a cookie-authenticated one that names no origin at all. API clients that send a
   bearer token and no Origin (curl, ``visioncast predict``) are not browsers and pass;
4. the route's role: ``open`` for anyone, ``local`` for loopback clients and the teacher, ``student`` for
   anyone let in, ``teacher`` for the teacher (401 otherwise: JSON under /api/, the sign-in page elsewhere).
   A route without a mark is refused and logged (fail closed; a test keeps every route marked).

A browser's session cookie is a random id the server keeps (hashed, with its expiry and a fingerprint of
the token, in ``<data_dir>/sessions.json``, 0600): signing out ends it at once, it expires after
``SESSION_MAX_AGE_S``, and changing the token signs every browser out. Wrong tokens are throttled per
address: after ``MAX_FAILURES`` within ``FAILURE_WINDOW_S`` every try from that address is 429 until the
window has passed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Request, Response, current_app, g, request

from visioncast.atomic import write_atomic
from visioncast.config import ServerConfig
from visioncast.errors import VisioncastError
from visioncast.network import ANY_HOSTS, is_loopback, lan_addresses
from visioncast.server.auth.access import access, role_of
from visioncast.server.errors import error_response

log = logging.getLogger(__name__)
EXTENSION = "visioncast.auth"
TOKEN_FILE = "token"
COOKIE = "visioncast_session"
SESSION_MAX_AGE_S = 7 * 24 * 3600
SESSIONS_FILE = "sessions.json"
MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0
CHANGING = ("POST", "PUT", "PATCH", "DELETE")
LOOPBACK_NAMES = ("localhost", "localhost.localdomain")
ADDRESS_REFRESH_S = 30.0
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")
SIGN_IN_HINT = ("this needs the teacher: open the sign-in link `visioncast serve` printed, or send "
                "'Authorization: Bearer <token>'")


def own_addresses() -> set[str]:
    """This machine's IP addresses (its LAN addresses and loopback). No traffic."""
    return {*lan_addresses(), "::1"}


class TooManyTriesError(VisioncastError):
    """Too many wrong tokens from one address (HTTP 429)."""

    code = "too_many_tries"
    http_status = 429


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Sessions:
    """Signed-in browsers: their cookie ids, kept hashed with an expiry and the token's fingerprint in a
    file (0600), so a sign-out or an expiry holds across restarts. Thread-safe."""

    def __init__(self, path: Path, max_age_s: float = SESSION_MAX_AGE_S) -> None:
        self.path, self.max_age_s = path, max_age_s
        self._lock = threading.Lock()
        self._live: dict[str, tuple[float, str]] | None = None

    def start(self, token: str) -> str:
        """A new session for the holder of ``token``: its cookie value."""
        sid = secrets.token_urlsafe(32)
        with self._lock:
            live = self._load()
            live[_digest(sid)] = (time.time() + self.max_age_s, _digest(token)[:16])
            self._save(live)
        return sid

    def valid(self, sid: str, token: str) -> bool:
        with self._lock:
            entry = self._load().get(_digest(sid))
        return entry is not None and entry[0] > time.time() and hmac.compare_digest(entry[1],
                                                                                    _digest(token)[:16])

    def end(self, sid: str) -> None:
        with self._lock:
            live = self._load()
            if live.pop(_digest(sid), None) is not None:
                self._save(live)

    def _load(self) -> dict[str, tuple[float, str]]:
        if self._live is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self._live = {k: (float(v[0]), str(v[1])) for k, v in data.items()}
            except (OSError, ValueError, TypeError, IndexError, AttributeError):
                self._live = {}
        now = time.time()
        return {k: v for k, v in self._live.items() if v[0] > now}

    def _save(self, live: dict[str, tuple[float, str]]) -> None:
        self._live = live
        write_atomic(self.path, json.dumps({k: list(v) for k, v in live.items()}).encode("utf-8"), mode=0o600)


class Auth:
    """The app's credentials and host names. Thread-safe."""

    def __init__(self, cfg: ServerConfig, data_dir: str | Path) -> None:
        self.cfg = cfg
        self.token_path = Path(data_dir) / TOKEN_FILE
        self.loopback_only = cfg.host in LOOPBACK_NAMES or is_loopback(cfg.host)
        self._token: str | None = cfg.token or None
        self._lock = threading.Lock()
        self.sessions = Sessions(Path(data_dir) / SESSIONS_FILE)
        self._failures: dict[str, list[float]] = {}
        self._addresses: set[str] = set()
        self._addresses_at = -ADDRESS_REFRESH_S
        host_name = socket.gethostname().lower()
        self._names = {*LOOPBACK_NAMES, host_name, f"{host_name}.local", *(h.lower() for h in cfg.hosts)}
        if cfg.host not in ANY_HOSTS:
            self._names.add(cfg.host.lower().strip("[]"))

    # ---- the token ------------------------------------------------------------------------------------
    def token(self) -> str:
        """The teacher's token: ``server.token``, else the one kept in the data dir, else a new one saved
        there (mode 0600)."""
        with self._lock:
            if self._token is None:
                self._token = self._read_token() or self._new_token()
            return self._token

    def known_token(self) -> str | None:
        """The token if one exists already (configured or saved); never makes one."""
        with self._lock:
            if self._token is None:
                self._token = self._read_token()
            return self._token

    def _read_token(self) -> str | None:
        try:
            return self.token_path.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def _new_token(self) -> str:
        token = secrets.token_urlsafe(18)
        write_atomic(self.token_path, (token + "\n").encode("utf-8"), mode=0o600)
        log.info("made a new teacher token in %s", self.token_path)
        return token

    # ---- who is calling -------------------------------------------------------------------------------
    def identify(self, req: Request) -> tuple[str, str]:
        """(role, how): ("teacher", "bearer" | "cookie" | "loopback"), ("student", "") or, for a bearer
        token from an address that tried too many wrong ones, ("student", "throttled")."""
        token = self.known_token()
        header = req.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            if self.throttled(req.remote_addr or "-"):
                return "student", "throttled"
            if token and hmac.compare_digest(header[7:].strip(), token):
                return "teacher", "bearer"
            self.failed(req.remote_addr or "-")
        cookie = req.cookies.get(COOKIE, "")
        if token and cookie and self.sessions.valid(cookie, token):
            return "teacher", "cookie"
        if self.loopback_only and is_loopback(req.remote_addr):
            return "teacher", "loopback"
        return "student", ""

    def check_token(self, candidate: str, client: str) -> bool:
        """Whether ``candidate`` is the token; TooManyTriesError when ``client`` tried too many wrong ones."""
        if self.throttled(client):
            raise TooManyTriesError(f"too many wrong tokens from your address: wait {FAILURE_WINDOW_S:.0f} s")
        token = self.known_token()
        if bool(token) and hmac.compare_digest(candidate.strip(), token or ""):
            return True
        self.failed(client)
        return False

    def failed(self, client: str) -> None:
        """Count a wrong token from ``client``."""
        with self._lock:
            self._failures.setdefault(client, []).append(time.monotonic())

    def throttled(self, client: str) -> bool:
        """Whether ``client`` tried ``MAX_FAILURES`` wrong tokens within the last ``FAILURE_WINDOW_S``."""
        with self._lock:
            recent = [t for t in self._failures.get(client, ()) if time.monotonic() - t < FAILURE_WINDOW_S]
            if recent:
                self._failures[client] = recent[-MAX_FAILURES:]
            else:
                self._failures.pop(client, None)
            return len(recent) >= MAX_FAILURES

    # ---- where the request says it goes ----------------------------------------------------------------
    def host_allowed(self, host: str) -> bool:
        """Whether ``host`` (the Host header without its port) names this server."""
        name = host.lower().strip("[]").rstrip(".")
        if name in self._names or is_loopback(name):
            return True
        try:
            ipaddress.ip_address(name.split("%")[0])
        except ValueError:
            return False  # a name nobody configured: a DNS-rebinding page, or a misdirected request
        with self._lock:
            if name not in self._addresses and time.monotonic() - self._addresses_at > ADDRESS_REFRESH_S:
                self._addresses, self._addresses_at = own_addresses(), time.monotonic()
            return name in self._addresses


def auth_of(app: Flask) -> Auth:
    """The app's Auth (made from the ``server`` config on first use)."""
    auth = app.extensions.get(EXTENSION)
    if auth is None:
        svc = app.extensions["visioncast"]
        auth = app.extensions[EXTENSION] = Auth(svc.config.server, svc.config.data_dir)
    return auth  # type: ignore[no-any-return,unused-ignore]


def current_role() -> str:
    """The role of the current request's caller ("teacher" or "student")."""
    return str(g.get("visioncast_role", "student"))


def client_id() -> str:
    """Who owns what a request makes (video jobs): the client's address."""
    return request.remote_addr or "-"


def _host_name(host: str) -> str:
    """The host part of a Host header or netloc (``[::1]:5000`` → ``[::1]``)."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def same_origin(req: Request) -> bool | None:
    """Whether the request's Origin (else Referer) is this server as the request reached it; None without
    either."""
    origin = req.headers.get("Origin")
    if origin is None:
        referer = req.headers.get("Referer")
        if not referer:
            return None
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.lower() == f"{req.scheme}://{req.host}".lower()


def refusal(req: Request, role: str, how: str, needed: str | None) -> tuple[int, str, str] | None:
    """(status, code, message) when the request must be refused, else None."""
    auth = auth_of(current_app)
    if not auth.host_allowed(_host_name(req.host)):
        return 400, "bad_host", (f"Host {req.host[:80]!r} is not a name of this server; open it by its "
                                 "address, or add the name to server.hosts")
    if req.method in CHANGING:
        same = same_origin(req)
        if same is False:
            return 403, "cross_origin", "a page of another site may not change anything here"
        if same is None and how == "cookie":
            return 403, "cross_origin", "a signed-in browser request must say its Origin"
    if needed == "teacher" and role != "teacher":
        return 401, "teacher_only", SIGN_IN_HINT
    if needed == "local" and role != "teacher" and not is_loopback(req.remote_addr):
        return 403, "local_only", "only this computer (or the teacher) may read this"
    return None


class SignInRequired(Exception):  # noqa: N818 — control flow of a request, not an error of ours
    """A teacher-only page asked for without the teacher's sign-in: the sign-in page answers it
    (:mod:`visioncast.server.auth.routes` registers the handler), so this module never imports the page."""


def guard() -> Any:
    """The before_request check (see the module docstring); the refusal answer or None."""
    auth = auth_of(current_app)
    role, how = auth.identify(request)
    g.visioncast_role = role
    if how == "throttled":
        return error_response(429, "too_many_tries", f"too many wrong tokens from your address: wait "
                              f"{FAILURE_WINDOW_S:.0f} s")
    view = current_app.view_functions.get(request.endpoint or "")
    needed = role_of(view) if view is not None else "open"  # 404/405: nothing to protect
    if needed is None:
        log.error("route %s has no @access mark: refused", request.endpoint)
        return error_response(403, "unmarked_route", "this route does not say who may call it")
    problem = refusal(request, role, how, needed)
    if problem is None:
        return None
    status, code, message = problem
    g.visioncast_error = code  # the access log names it
    if status == 401 and not request.path.startswith("/api/"):
        raise SignInRequired
    return error_response(status, code, message)


def secure_headers(resp: Response) -> Response:
    """Headers every answer carries; pages also get the Content-Security-Policy."""
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if resp.mimetype == "text/html":
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Frame-Options", "DENY")
    return resp


def register(app: Flask) -> None:
    """Check every request; add the security headers to every answer."""
    auth_of(app)
    static = app.view_functions.get("static")
    if static is not None:  # Flask's own route: the files of static/ are for everyone
        @access("open")
        @functools.wraps(static)
        def static_file(**kwargs: Any) -> Any:
            return static(**kwargs)

        app.view_functions["static"] = static_file
    app.before_request(guard)
    app.after_request(secure_headers)
