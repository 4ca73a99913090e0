"""What the HTTP service shares across requests: config, loaded models, result sinks. I/O: loads models.

Built once by ``create_app`` into ``app.extensions["visioncast"]``. Models load lazily on first use and are
cached by (task, name), at most ``models.max_loaded`` besides the two defaults (the least recently used goes
first; a stream still running keeps its own reference); onnxruntime and OpenVINO sessions are safe to call
from several request threads.
``bus`` is the server's :class:`~visioncast.sinks.Dispatcher` (the MQTT push, …): API results reach it
through :meth:`Services.publish`, streams and video jobs hand it to their pipelines as a shared sink, so a
channel never talks to a sink directly, and a failing sink is counted (``bus.status()``, /metrics), never
raised into the request or thread that produced the result.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from flask import current_app

from visioncast.config import Config
from visioncast.core.types import Frame, Result
from visioncast.models import load_configured
from visioncast.models.registry import DEFAULTS, ModelInfo
from visioncast.runtimes.base import Runtime
from visioncast.sinks import Delivery, Dispatcher
from visioncast.tasks import Task

log = logging.getLogger(__name__)
EXTENSION = "visioncast"  # app.extensions[EXTENSION] is the app's Services


def services() -> Services:
    """The Services of the running app (inside a request or app context)."""
    return current_app.extensions[EXTENSION]


class Services:
    """Per-app shared state. Thread-safe."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._models: OrderedDict[tuple[str, str], Task] = OrderedDict()
        self._own: dict[tuple[str, str], Runtime] = {}  # own_runtime: where a task graph is not the file
        self._lock = threading.Lock()
        self.bus = Dispatcher()
        self._frames: dict[str, Iterator[int]] = {}
        self.on_close: list[Callable[[], None]] = []
        # Where models run: None = in this process; `serve --ray` sets Ray Serve's (visioncast.scale).
        self.runtime_opener: Callable[[ModelInfo], Runtime] | None = None

    def model(self, task: str, name: str | None = None) -> Task:
        """The loaded model for ``task`` (default from config; pose and face: the registry's) — loaded once,
        then cached."""
        cfg = self.config.models
        name = name or {"detect": cfg.detect, "classify": cfg.classify}.get(task) or DEFAULTS[task]
        key = (task, name)
        with self._lock:
            if key not in self._models:
                self._models[key] = load_configured(cfg, name, task=task, opener=self.runtime_opener)
                log.info("loaded %s model %s (%s)", task, name, cfg.engine)
                self._evict()
            self._models.move_to_end(key)
            return self._models[key]

    def _evict(self) -> None:
        """Forget the least recently used models past ``models.max_loaded`` (never the defaults)."""
        cfg = self.config.models
        defaults = {("detect", cfg.detect), ("classify", cfg.classify)}
        extra = [key for key in self._models if key not in defaults]
        for key in extra[: max(0, len(extra) - max(1, cfg.max_loaded))]:
            del self._models[key]
            log.info("unloaded %s model %s (models.max_loaded = %d)", *key, cfg.max_loaded)

    def loaded(self) -> list[tuple[str, str]]:
        """The (task, name) of the models in memory, least recently used first."""
        with self._lock:
            return list(self._models)

    def own_runtime(self, task: str, name: str | None = None) -> Runtime:
        """The runtime of model ``name`` taking and giving the file's own tensors (what KServe v2 clients
        send): the task's runtime when it runs the file's graph, else (the task's graph takes uint8 images:
        the input conversion folded into it) one on the file's bytes with the same engine settings, loaded
        on first use."""
        runtime = self.model(task, name).runtime
        reload = getattr(runtime, "reload", None)
        if getattr(runtime, "model_bytes", None) is None or reload is None:
            return runtime
        key = (task, name or "")
        with self._lock:
            if key not in self._own:
                self._own[key] = reload(Path(runtime.path).read_bytes())  # type: ignore[attr-defined]
            return self._own[key]

    def detector(self, name: str | None = None) -> Task:
        """The detect model ``name`` (default: the configured one)."""
        return self.model("detect", name)

    def classifier(self, name: str | None = None) -> Task:
        """The classify model ``name`` (default: the configured one)."""
        return self.model("classify", name)

    def publish(self, result: Result, *, source: str, image: np.ndarray | None = None,
                frame: Frame | None = None) -> None:
        """Hand ``result`` to every sink of the bus; never raises for a sink. A result without ``frame`` (an
        API request's ``image``) is numbered per source (0, 1, 2…) and stamped with the Unix time."""
        if frame is None and image is not None:
            with self._lock:
                index = next(self._frames.setdefault(source, itertools.count()))
            frame = Frame(image, index, round(time.time(), 3), source)
        self.bus.deliver(Delivery(source, result, frame))

    def stop_producers(self) -> None:
        """Stop what produces results (video jobs, streams: ``on_close``), newest first. Idempotent."""
        while self.on_close:
            self.on_close.pop()()

    def close(self) -> None:
        """Stop the producers, then close the sinks they publish to."""
        self.stop_producers()
        self.bus.close()
