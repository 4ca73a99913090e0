"""Connecting to a Ray cluster: the one place that imports Ray for the first time. I/O: the cluster's sockets.

``connect("auto")`` joins the cluster this machine is part of (``ray start --head`` ran here), ``connect(
"ray://host:10001")`` or ``connect("host:6379")`` a remote one, ``connect("local")`` starts a private
single-node cluster for trying things out. A missing extra raises :class:`ModelError` with the install line.
Ray's own start-up chatter (deprecation warnings of its pydantic models, INFO lines of Serve) is silenced
here so that `serve` and `run` print only their own lines.

Token authentication (Ray ≥ 2.52; 2.60 turns it on for a head as soon as ``~/.ray/auth_token`` exists):
joining a cluster sends a token whenever there is one — ``ray.auth_token`` (config), else
``RAY_AUTH_TOKEN`` / ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token`` — which a cluster without
authentication ignores. A missing or refused token is one line saying which, instead of Ray's forty lines
of retries. A private cluster (``local``) keeps its token file readable by its owner only.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visioncast.config.schema import REPLICAS
from visioncast.errors import InputError, ModelError

INSTALL = 'Ray is not installed: pip install "visioncast[ray]"'
NAMESPACE = "visioncast"
# Ray sends call arguments and results over 100 KiB through the object stores. Between two nodes, pulling
# YOLOX's tensors (0.5 MB in as uint8, 1.2 MB out) under concurrent calls waited in steps of 1 s (4 threads:
# p90 1.1 s, max 2 s; on the replica's own node: none). Carried inline in the call itself they did not wait
# (p90 62–77 ms). Ray reads this at a cluster's start: `connect("local")` passes it, other clusters take it
# from `ray start --head --system-config` (docs/scale.md).
INLINE_TENSORS = {"max_direct_call_object_size": 8 << 20, "task_rpc_inlined_bytes_limit": 32 << 20}


@dataclass(frozen=True)
class Replicas:
    """How many replicas a deployment runs: ``low`` = ``high`` fixed, else autoscaling between the two."""

    low: int
    high: int

    @property
    def fixed(self) -> bool:
        return self.low == self.high

    def options(self) -> dict[str, Any]:
        """Ray Serve deployment options for these bounds."""
        if self.fixed:
            return {"num_replicas": self.low}
        return {"autoscaling_config": {"min_replicas": self.low, "max_replicas": self.high,
                                       "target_ongoing_requests": 1}}


def parse_replicas(text: str | int) -> Replicas:
    """'2' → 2 replicas; '1-4' → autoscaling from 1 to 4 replicas. InputError otherwise."""
    match = REPLICAS.match(str(text).strip())
    if match is None:
        raise InputError(f"--replicas must be N or MIN-MAX (e.g. 2 or 1-4), got {text!r}")
    low = int(match[1])
    high = int(match[2]) if match[2] else low
    if low < 1 or high < low:
        raise InputError(f"--replicas needs 1 ≤ MIN ≤ MAX, got {text!r}")
    return Replicas(low, high)


def import_ray() -> Any:
    """The ``ray`` module with Serve loaded, or ModelError saying how to install it."""
    try:
        with warnings.catch_warnings():  # Ray's pydantic models warn at import; nothing the user can act on
            warnings.simplefilter("ignore", DeprecationWarning)
            import ray  # noqa: PLC0415 — the optional extra, only with --ray
            import ray.serve  # noqa: PLC0415
    except ImportError as exc:
        raise ModelError(f"{INSTALL} ({exc})") from exc
    for name in ("ray", "ray.serve"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return ray


def token_file() -> Path:
    """Where Ray keeps this user's token (``ray get-auth-token --generate`` writes it)."""
    return Path.home() / ".ray" / "auth_token"


def use_token(token: str = "") -> str:
    """Make this process send a Ray token when there is one: ``token`` (ray.auth_token), else
    RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token. Where it came from ("" = none sent)."""
    env = os.environ
    if token:
        env["RAY_AUTH_TOKEN"] = token
        where = "ray.auth_token"
    elif env.get("RAY_AUTH_TOKEN"):
        where = "RAY_AUTH_TOKEN"
    elif env.get("RAY_AUTH_TOKEN_PATH"):
        where = env["RAY_AUTH_TOKEN_PATH"]
    elif token_file().is_file():
        where = str(token_file())
    else:
        return ""
    if env.get("RAY_AUTH_MODE", "").lower() != "disabled":  # an explicit "disabled" is respected
        env["RAY_AUTH_MODE"] = "token"
        _reload_auth_settings()
    return where


def _reload_auth_settings() -> None:
    """Ray caches its settings and the token when it is imported: read them again from the environment."""
    raylet = importlib.import_module("ray._raylet")
    loader = getattr(raylet, "AuthenticationTokenLoader", None)
    if loader is None:  # a Ray before 2.52: no token authentication to set up
        return
    raylet.Config.initialize("")
    loader.instance().reset_cache()


@contextlib.contextmanager
def _native_stderr() -> Iterator[list[str]]:
    """Ray's C++ core writes its connection retries to file descriptor 2: collect them instead (the list
    holds what was written once the block has ended)."""
    sys.stderr.flush()
    said: list[str] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            said.append(tmp.read())


def connect(address: str, *, token: str = "") -> Any:
    """Join the Ray cluster at ``address`` ('auto', 'local', 'host:port', 'ray://host:port') with the
    token of :func:`use_token` (``token``: ray.auth_token); the ray module.

    Already connected (a test's cluster, a second call): the existing connection is kept.
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray
    where = use_token(token)
    # "local" is Ray's own word for a new private instance; without an address ray.init would join the
    # cluster started last on this machine (someone else's, a test's) instead.
    kwargs: dict[str, Any] = {"address": address, "namespace": NAMESPACE, "logging_level": logging.WARNING,
                              "log_to_driver": False}
    if address == "local":
        kwargs.update(include_dashboard=False, _system_config=INLINE_TENSORS)
    # a new private cluster's daemons would inherit the collecting file as their stderr: only when joining
    collect: contextlib.AbstractContextManager[list[str]] = \
        _native_stderr() if address != "local" else contextlib.nullcontext([])
    with collect as native:
        try:
            ray.init(**kwargs)
            failure = None
        except (ConnectionError, ValueError, RuntimeError, ray.exceptions.RayError) as exc:
            failure = exc
    said = "".join(native)
    if failure is not None:
        raise ModelError(f"cannot join the Ray cluster at {address!r}: "
                         f"{_why(failure, said, where)}") from failure
    sys.stderr.write(said)  # nothing went wrong: Ray's own lines, if any, as they were
    if os.name == "posix" and address == "local" and token_file().is_file() \
            and token_file().stat().st_uid == os.getuid():
        token_file().chmod(0o600)  # Ray writes it readable by every user of the machine
    return ray


def _why(exc: BaseException, native: str, where: str) -> str:
    """One line: the token missing or refused, else Ray's first line."""
    if "InvalidAuthToken" in native or "Unauthenticated" in native or "uthentication" in type(exc).__name__:
        if where:
            return (f"it refused the token from {where} (token authentication: use the token of the "
                    "cluster's head, its ~/.ray/auth_token; docs/scale.md)")
        return ("it asks for a token (token authentication) and none was found: set ray.auth_token or "
                "RAY_AUTH_TOKEN, or copy ~/.ray/auth_token from the cluster's head (docs/scale.md)")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def cluster_summary(ray: Any) -> str:
    """'2 nodes, 4 CPUs' for the start-up line."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = sum(n.get("Resources", {}).get("CPU", 0) for n in nodes)
    return f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}, {cpus:g} CPUs"
