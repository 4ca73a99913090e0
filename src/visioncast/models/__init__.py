"""Model registry: shipped defaults, labels, pulled models (sha256-checked downloads)."""

from __future__ import annotations

from visioncast.models.registry import (
    DEFAULT_CLASSIFY,
    DEFAULT_DETECT,
    ModelInfo,
    find_model,
    list_models,
    load_configured,
    load_model,
)

__all__ = ["DEFAULT_CLASSIFY", "DEFAULT_DETECT", "ModelInfo", "find_model", "list_models", "load_configured",
           "load_model"]
