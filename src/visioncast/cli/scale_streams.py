"""`serve --ray`'s streams on the cluster: the flags and the start-up step that give the server's stream
registry its placer (:class:`~visioncast.scale.stream.RayStreams`). I/O: prints, the cluster.

With ``--ray``, a stream started from the streams page or ``POST /api/v1/streams`` runs as an actor on a
node of the cluster (unless its source is a camera of this machine or the request says ``"placement":
"local"``); the server keeps a proxy that feeds its MQTT push, statistics and MJPEG view. Without ``--ray``
nothing here imports Ray.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from visioncast.errors import InputError
from visioncast.server.stream_registry import registry

if TYPE_CHECKING:
    from visioncast.cli.serve import ServeContext


def add_ray_stream_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("streams on the Ray cluster (with --ray)")
    g.add_argument("--stream-cpus", type=float, default=1.0, metavar="CPUS",
                   help="CPUs each stream actor reserves on its node, and its engine's threads (default 1)")
    g.add_argument("--stream-restarts", type=int, default=3, metavar="N",
                   help="times a stream gets a new actor after losing one (node or process lost; default 3)")


def place_streams(ctx: ServeContext) -> None:
    """Serve start-up step (after :func:`~visioncast.cli.scale.start_ray`): with --ray, streams run as actors
    on the cluster."""
    args = ctx.args
    if not getattr(args, "ray", None):
        return
    if args.stream_cpus <= 0:
        raise InputError(f"--stream-cpus must be positive, got {args.stream_cpus}")
    if args.stream_restarts < 0:
        raise InputError(f"--stream-restarts must be 0 or more, got {args.stream_restarts}")
    from visioncast.scale.cluster import connect  # noqa: PLC0415 — the extra, only with --ray
    from visioncast.scale.stream import RayStreams  # noqa: PLC0415

    connect(args.ray)  # start_ray joined it: the same connection
    registry(ctx.app).placer = RayStreams(ctx.config.models, actor_cpus=args.stream_cpus,
                                          max_restarts=args.stream_restarts)
    print(f"streams run on the cluster as actors of {args.stream_cpus:g} CPU (restarted up to "
          f"{args.stream_restarts} times); cameras of this machine stay here", file=ctx.out, flush=True)
