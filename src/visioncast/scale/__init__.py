"""visioncast on a Ray cluster (the optional extra ``visioncast[ray]``): inference in Ray Serve deployments
(:mod:`visioncast.scale.deployment`) and one pipeline actor per source (:mod:`visioncast.scale.actors`).

Nothing here is imported unless ``--ray`` is given: the submodules import Ray, this package does not. I/O:
connects to the cluster (:mod:`visioncast.scale.cluster`).
"""

from __future__ import annotations
