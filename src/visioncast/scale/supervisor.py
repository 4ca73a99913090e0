"""The one Ray supervisor of pipeline actors, for ``run --ray``'s sources and ``serve --ray``'s streams. I/O:
the cluster.

:class:`PipelineActors` makes :class:`~visioncast.scale.pipeline_actor.PipelineActor` s: the task travels
once without its runtime, the model's bytes go into the object store once per model, each actor reserves
``actor_cpus`` and is spread over the nodes. :class:`Supervisor` keeps one actor for one source with the one
policy for failures:

* the actor's pipeline failing (its source lost, a broken model) or its start failing is the source's
  failure: a :class:`~visioncast.errors.VisioncastError` saying why, nothing restarted;
* the actor itself dying (its process killed, its node lost) or not answering within ``rpc_timeout_s`` is a
  *loss*: recorded (``last_loss``) and answered with a new actor, at most ``max_restarts`` times
  (``restarts``); one loss more is the source's failure. A new actor opens the source again: a camera or
  network stream goes on live, a file plays from its start, tracking and totals start afresh.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from visioncast.config import ModelsConfig
from visioncast.errors import ModelError, SourceError, VisioncastError
from visioncast.models.registry import find_model
from visioncast.scale.cluster import import_ray
from visioncast.scale.pipeline_actor import PipelineActor
from visioncast.tasks.base import Task, TaskOptions, without_runtime

log = logging.getLogger(__name__)
RPC_TIMEOUT_S = 10.0
START_TIMEOUT_S = 60.0  # a node must take the actor, load the model and open the source within this
STOP_WAIT_S = 5.0
Spawn = Callable[[str], Any]


class PipelineActors:
    """Makes pipeline actors on the cluster (thread-safe). ``models``: the engine settings used on the nodes;
    ``actor_cpus``: what each actor reserves (its engine gets as many threads)."""

    def __init__(self, models: ModelsConfig, *, actor_cpus: float = 1.0) -> None:
        self.models, self.actor_cpus = models, actor_cpus
        self._model_refs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def spawner(self, task: Task, task_options: TaskOptions | None = None) -> Spawn:
        """``spawn(actor_name)``: a new actor running ``task`` (not started yet)."""
        ray = import_ray()
        shipped = without_runtime(task)
        model = self._model_ref(ray, task)
        actor_class = ray.remote(num_cpus=self.actor_cpus, max_restarts=0)(PipelineActor)
        threads = max(1, round(self.actor_cpus))
        m = self.models

        def spawn(actor_name: str) -> Any:
            return actor_class.options(name=actor_name, scheduling_strategy="SPREAD").remote(
                shipped, model, engine=m.engine, device=m.device,
                precision=m.precision, threads=threads, task_options=task_options)

        return spawn

    def _model_ref(self, ray: Any, task: Task) -> Any:
        """The bytes the task's runtime loaded (a folded graph, a file given by path), else the registry's
        file of its name, in the object store once."""
        runtime = task.runtime
        path = getattr(runtime, "path", None)
        key = str(path) if isinstance(path, Path) else task.name
        with self._lock:
            if key not in self._model_refs:
                data = getattr(runtime, "model_bytes", None)
                if data is None:
                    found = path if isinstance(path, Path) else \
                        find_model(task.name, Path(self.models.cache_dir)).path
                    data = found.read_bytes()
                self._model_refs[key] = ray.put(data)
            return self._model_refs[key]

    def close(self) -> None:
        """Forget the model bytes (the actors are stopped by their supervisors)."""
        with self._lock:
            self._model_refs.clear()


class Supervisor:
    """One source's pipeline actor: started, called, restarted when lost (see the module docstring).

    ``start_args``: what ``PipelineActor.start`` gets; ``label``: the actors' name prefix (``-N`` per
    restart); ``what``: the source in messages; ``on_start(info)``: called after every start, restarts
    included; ``stop_timeout_s``: how long the last answers may take (a run's outputs finalised)."""

    def __init__(self, spawn: Spawn, start_args: tuple[Any, ...], *, label: str, what: str = "",
                 max_restarts: int = 3,
                 start_timeout_s: float = START_TIMEOUT_S, rpc_timeout_s: float = RPC_TIMEOUT_S,
                 stop_timeout_s: float = STOP_WAIT_S,
                 on_start: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._spawn, self.start_args, self.label = spawn, start_args, label
        self.max_restarts, self.start_timeout_s = max_restarts, start_timeout_s
        self.rpc_timeout_s, self.stop_timeout_s = rpc_timeout_s, stop_timeout_s
        self.on_start, self.what = on_start, what or f"source {start_args[0]!r}"
        self.actor: Any = None
        self.restarts = 0
        self.actor_name = self.node = ""
        self.last_loss: str | None = None

    def launch(self, restarts: int = 0) -> dict[str, Any]:
        """A new actor, started (its source open; ``restarts``: the count once it is): its start answer; the
        start's error otherwise."""
        ray = import_ray()
        name = f"{self.label}-{restarts}"
        actor = self._spawn(name)
        try:
            info = ray.get(actor.start.remote(*self.start_args), timeout=self.start_timeout_s)
        except ray.exceptions.GetTimeoutError as exc:
            ray.kill(actor, no_restart=True)
            raise ModelError(f"no Ray node took {self.what} within {self.start_timeout_s:g} s "
                             "(does the cluster have the CPUs a pipeline actor asks for free?)") from exc
        except ray.exceptions.RayTaskError as exc:
            ray.kill(actor, no_restart=True)
            raise _cause(exc, f"{self.what} failed to start on its node") from exc
        except ray.exceptions.RayActorError as exc:
            raise SourceError(f"{self.what}: its actor died while starting: "
                              f"{str(exc).splitlines()[0]}") from exc
        self.actor, self.actor_name, self.node = actor, name, str(info["node"])
        self.restarts = restarts  # last: a reader that sees the new count sees the new actor
        if self.on_start is not None:
            self.on_start(info)
        return dict(info)

    def call(self, method: str, *args: Any) -> Any:
        """``method`` on the actor; None when the actor was lost and a new one now runs (ask again); the
        source's failure (a VisioncastError) when its pipeline failed or no restart is left."""
        ray = import_ray()
        try:
            return ray.get(getattr(self.actor, method).remote(*args), timeout=self.rpc_timeout_s)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as exc:
            self.recover(exc)
            return None
        except ray.exceptions.RayTaskError as exc:
            raise _cause(exc, f"{self.what} failed on its node") from exc

    def recover(self, exc: BaseException) -> None:
        """The actor is lost: new ones while restarts are left (a new one lost while starting is one loss
        more), else SourceError with the loss."""
        ray = import_ray()
        while True:
            why = f"actor {self.actor_name} on node {self.node[:8]} lost: {type(exc).__name__}"
            log.warning("%s: %s (%d of %d restarts used)", self.what, why, self.restarts, self.max_restarts)
            self.kill()  # whatever is left of it (a hung process) frees its CPUs
            self.last_loss = why
            if self.restarts >= self.max_restarts:
                raise SourceError(f"{self.what}: {why}; no restart left ({self.max_restarts} used)")
            attempt = self.restarts + 1
            try:
                self.launch(attempt)
                return
            except VisioncastError as failed:
                if not isinstance(failed.__cause__, ray.exceptions.RayActorError):
                    raise
                self.restarts, exc = attempt, failed.__cause__

    def stop(self) -> dict[str, Any] | None:
        """Stop the actor's pipeline: its summary, or None when the actor did not answer."""
        return self.once("stop")

    def once(self, method: str, *args: Any) -> Any:
        """``method`` on the actor, asked once while ending (no restart): its answer, or None."""
        ray = import_ray()
        if self.actor is None:
            return None
        try:
            return ray.get(getattr(self.actor, method).remote(*args), timeout=self.stop_timeout_s)
        except (ray.exceptions.RayError, TimeoutError) as exc:  # GetTimeoutError is both
            log.warning("%s: %s got no answer: %s", self.what, method, type(exc).__name__)
            return None

    def kill(self) -> None:
        """End the actor (it frees its CPUs); nothing if there is none or it is gone already."""
        actor, self.actor = self.actor, None
        if actor is not None:
            ray = import_ray()
            try:
                ray.kill(actor, no_restart=True)
            except ray.exceptions.RayError as exc:  # already gone with its node
                log.debug("%s: kill: %s", self.what, exc)


def _cause(exc: Any, what: str) -> VisioncastError:
    """The error a RayTaskError carries when it is ours (SourceError, ModelError …), else ModelError."""
    if isinstance(exc.cause, VisioncastError):
        return exc.cause
    return ModelError(f"{what}: {exc.cause or str(exc).splitlines()[0]}")
