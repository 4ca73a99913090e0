"""visioncast on a Ray cluster (the optional extra ``visioncast[ray]``): inference in Ray Serve deployments
(:mod:`visioncast.scale.deployment`); server streams as actors on the nodes (:mod:`visioncast.scale.stream`,
the server's proxy, and :mod:`visioncast.scale.stream_actor`, what runs on a node); ``run --ray``'s pipeline
actor is the run command's own (:mod:`visioncast.cli.run_actor`).

Nothing here is imported unless ``--ray`` is given: the submodules import Ray, this package does not. I/O:
connects to the cluster (:mod:`visioncast.scale.cluster`).
"""

from __future__ import annotations
