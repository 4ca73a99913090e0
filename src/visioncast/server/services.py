"""What the HTTP service shares across requests: config, loaded models, result sinks. I/O: loads models.

Built once by ``create_app`` into ``app.extensions["visioncast"]``. Models load lazily on first use and are
cached by (task, name); onnxruntime and OpenVINO sessions are safe to call from several request threads.
Every result of every channel goes through :meth:`Services.publish`, which fans it out to the registered sinks
(MQTT push, …), so a channel never talks to a sink directly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from visioncast.config import Config
from visioncast.core.types import Frame, Result
from visioncast.models import load_model
from visioncast.models.registry import DEFAULTS, Model
from visioncast.tasks import Classifier, Detector

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Consumes results; must never block the caller for long (queue internally)."""

    def publish(self, result: Result, *, source: str, frame: Frame | None = None, **extra: Any) -> None: ...

    def close(self) -> None: ...


class Services:
    """Per-app shared state. Thread-safe."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._models: dict[tuple[str, str], Model] = {}
        self._lock = threading.Lock()
        self.sinks: list[Sink] = []
        self.on_close: list[Callable[[], None]] = []

    def model(self, task: str, name: str | None = None) -> Model:
        """The loaded model for ``task`` (default from config; pose and face: the registry's) — loaded once,
        then cached."""
        cfg = self.config.models
        name = name or {"detect": cfg.detect, "classify": cfg.classify}.get(task) or DEFAULTS[task]
        key = (task, name)
        with self._lock:
            if key not in self._models:
                model = load_model(
                    name, task=task, engine=cfg.engine, device=cfg.device, precision=cfg.precision,
                    threads=cfg.threads or None, family=cfg.family or None, labels=cfg.labels or None,
                    cache_dir=Path(cfg.cache_dir),
                )
                if isinstance(model, Detector):
                    model.options = model.options.merged(conf=cfg.conf, iou=cfg.iou, max_det=cfg.max_det)
                self._models[key] = model
                log.info("loaded %s model %s (%s)", task, name, cfg.engine)
            return self._models[key]

    def detector(self, name: str | None = None) -> Detector:
        model = self.model("detect", name)
        assert isinstance(model, Detector)  # guaranteed by load_model(task="detect")
        return model

    def classifier(self, name: str | None = None) -> Classifier:
        model = self.model("classify", name)
        assert isinstance(model, Classifier)  # guaranteed by load_model(task="classify")
        return model

    def publish(self, result: Result, *, source: str, frame: Frame | None = None, **extra: Any) -> None:
        """Hand ``result`` to every sink; a failing sink is logged and counted by the sink, never raised."""
        for sink in list(self.sinks):
            sink.publish(result, source=source, frame=frame, **extra)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        for fn in self.on_close:
            fn()
