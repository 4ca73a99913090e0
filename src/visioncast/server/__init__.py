"""The Flask HTTP service: ``visioncast.server.app.create_app(config)`` builds it; one package or module per
capability (``api``, ``pages``, ``videos/``, ``streams/``, ``push/``, ``teach/``, ``auth/``, ``kserve``), each
with its routes and its logic; ``services`` is the registry they share. Flask only here."""

from __future__ import annotations
