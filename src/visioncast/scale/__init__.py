"""visioncast on a Ray cluster (the optional extra ``visioncast[ray]``): inference in Ray Serve deployments
(:mod:`visioncast.scale.deployment`); one pipeline actor per source on the nodes
(:mod:`visioncast.scale.pipeline_actor`, what runs on a node) kept by one supervisor
(:mod:`visioncast.scale.supervisor`: one policy for lost, failed and silent actors, one restart loop), for
``run --ray``'s sources (:mod:`visioncast.cli.scale`) and ``serve --ray``'s streams
(:mod:`visioncast.scale.stream`, the server's proxy).

Nothing here is imported unless ``--ray`` is given: the submodules import Ray, this package does not. I/O:
connects to the cluster (:mod:`visioncast.scale.cluster`).
"""

from __future__ import annotations
