"""`serve --ray`'s streams on the cluster: the start-up step that gives the server's stream registry its
placer (:class:`~visioncast.scale.stream.RayStreams`). I/O: prints, the cluster.

With ``--ray``, a stream started from the streams page or ``POST /api/v1/streams`` runs as an actor on a
node of the cluster (unless its source is a camera of this machine or the request says ``"placement":
"local"``); the server keeps a proxy that feeds its MQTT push, statistics and MJPEG view. Without ``--ray``
nothing here imports Ray. A stream's actor is a pipeline actor like `run --ray`'s: ``ray.actor_cpus`` and
``ray.actor_restarts`` (``--actor-cpus``, ``--actor-restarts``) apply to both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from visioncast.server.stream_registry import registry

if TYPE_CHECKING:
    from visioncast.cli.serve import ServeContext


def place_streams(ctx: ServeContext) -> None:
    """Serve start-up step (after :func:`~visioncast.cli.scale.start_ray`): with --ray, streams run as actors
    on the cluster."""
    settings = ctx.config.ray
    if not settings.address:
        return
    from visioncast.scale.cluster import connect  # noqa: PLC0415 — the extra, only with --ray
    from visioncast.scale.stream import RayStreams  # noqa: PLC0415

    connect(settings.address)  # start_ray joined it: the same connection
    registry(ctx.app).placer = RayStreams(ctx.config.models, actor_cpus=settings.actor_cpus,
                                          max_restarts=settings.actor_restarts)
    print(f"streams run on the cluster as actors of {settings.actor_cpus:g} CPU (restarted up to "
          f"{settings.actor_restarts} times); cameras of this machine stay here", file=ctx.out, flush=True)
