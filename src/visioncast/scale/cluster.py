"""Connecting to a Ray cluster: the one place that imports Ray for the first time. I/O: the cluster's sockets.

``connect("auto")`` joins the cluster this machine is part of (``ray start --head`` ran here), ``connect(
"ray://host:10001")`` or ``connect("host:6379")`` a remote one, ``connect("local")`` starts a private
single-node cluster for trying things out. A missing extra raises :class:`ModelError` with the install line.
Ray's own start-up chatter (deprecation warnings of its pydantic models, INFO lines of Serve) is silenced
here so that `serve` and `run` print only their own lines.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

from visioncast.config_schema import REPLICAS
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


def connect(address: str) -> Any:
    """Join the Ray cluster at ``address`` ('auto', 'local', 'host:port', 'ray://host:port'); the ray module.

    Already connected (a test's cluster, a second call): the existing connection is kept.
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray
    # "local" is Ray's own word for a new private instance; without an address ray.init would join the
    # cluster started last on this machine (someone else's, a test's) instead.
    kwargs: dict[str, Any] = {"address": address, "namespace": NAMESPACE, "logging_level": logging.WARNING,
                              "log_to_driver": False}
    if address == "local":
        kwargs.update(include_dashboard=False, _system_config=INLINE_TENSORS)
    try:
        ray.init(**kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot join the Ray cluster at {address!r}: {exc}") from exc
    return ray


def cluster_summary(ray: Any) -> str:
    """'2 nodes, 4 CPUs' for the start-up line."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = sum(n.get("Resources", {}).get("CPU", 0) for n in nodes)
    return f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}, {cpus:g} CPUs"
