"""Who may call each route: ``open`` (anyone, e.g. health checks), ``local`` (clients on this computer, and
the teacher: /metrics), ``student`` (anyone the server lets in: every client of a loopback server, or a LAN
client) or ``teacher`` (the holder of the server's token; on a server bound to loopback only, whoever is at
this computer). Pure.

Every view function carries its role with :func:`access`; a test lists the app's routes and fails on one that
does not say. Enforcement (tokens, sessions, origin checks: :mod:`visioncast.server.auth.core`) reads the same
mark; docs/security.md has the table of who may do what.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

ROLES = ("open", "local", "student", "teacher")
ATTR = "visioncast_access"
F = TypeVar("F", bound=Callable[..., Any])


def access(role: str) -> Callable[[F], F]:
    """Mark a view function with the least role allowed to call it."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")

    def mark(view: F) -> F:
        setattr(view, ATTR, role)
        return view

    return mark


def role_of(view: Callable[..., Any]) -> str | None:
    """The role a view was marked with, or None when it was not."""
    return getattr(view, ATTR, None)
