"""Who may publish under which source name (the ``<source>`` level of the MQTT topics). I/O: none.

A label on ``visioncast/<source>/label`` moves the boards that listen to it, so a source belongs to someone:

* the teacher (token, or the keyboard of a loopback-only server) publishes under any name;
* a student publishes under a name the teacher shared (``server.shared_sources``), or else under their own
  per-client name ``<name>@<address>`` (``webcam@192-168-1-23``): the page's default (``webcam``,
  ``detect``, ``teach``…) or a name they chose, tagged with their address;
* nobody but the teacher publishes under a running stream's (or ``run --serve``'s) name, or under another
  client's per-client name: asking for one is 403 ``source_not_yours``.

Teach "try" publishes under ``teach`` for the teacher and, for students, only with the project the teacher
chose (``POST /api/v1/teach/projects/<id>/use``); any other project's tries are the student's own.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from flask import current_app

from visioncast.errors import InputError
from visioncast.server.auth.core import client_id, current_role
from visioncast.server.query import source_name

OWN = "@"
_TAG = re.compile(r"[^0-9A-Za-z]+")
MAX_SOURCE = 64


class SourceNotYoursError(InputError):
    """A student asked to publish under a source they may not use (HTTP 403)."""

    code = "source_not_yours"
    http_status = 403


def client_tag(client: str) -> str:
    """The per-client part of a source name: the address with its separators as '-' (IPv6 too)."""
    return _TAG.sub("-", client).strip("-") or "unknown"


def student_source(name: str, *, client: str, explicit: bool, shared: Collection[str],
                   taken: Collection[str]) -> str:
    """Where a student's result goes (see the module docstring); SourceNotYoursError when ``explicit``ly
    asked for a name that is someone else's."""
    own = f"{OWN}{client_tag(client)}"
    if name.endswith(own):
        return name
    if OWN in name or name in taken:
        if explicit:
            whose = "a stream" if name in taken else "another client"
            raise SourceNotYoursError(f"source {name!r} belongs to {whose}; only the teacher publishes under "
                                      f"it (leave 'source' out to publish under your own "
                                      f"{name.split(OWN, maxsplit=1)[0] + own!r})")
        name = name.split(OWN, maxsplit=1)[0]
    if name in shared and name not in taken:
        return name
    return f"{name[:MAX_SOURCE - len(own)]}{own}"


def taken_names() -> set[str]:
    """The source names of the streams the server knows (and of ``run --serve``'s pipeline)."""
    registry = current_app.extensions.get("visioncast.streams")
    return {entry.pipeline.name for entry in registry.list()} if registry is not None else set()


def publish_source(args: Mapping[str, str], default: str, *, shared_default: bool = False) -> str:
    """The source name the current request's results are published under: ``?source=`` (checked) or the
    route's ``default``; a student's goes through :func:`student_source`. ``shared_default``: the default
    is shared with students by the teacher's choice (teach try of the chosen project)."""
    name = source_name(args, default)
    if current_role() == "teacher":
        return name
    shared = set(current_app.extensions["visioncast"].config.server.shared_sources)
    if shared_default:
        shared.add(default)
    explicit = bool((args.get("source") or "").strip())
    return student_source(name, client=client_id(), explicit=explicit, shared=shared, taken=taken_names())
