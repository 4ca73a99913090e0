"""The Flask HTTP service: ``create_app(config)`` builds it; blueprints per feature; Flask only here."""

from __future__ import annotations

from visioncast.server.app import create_app

__all__ = ["create_app"]
