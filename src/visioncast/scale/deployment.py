"""Models in Ray Serve deployments, and :class:`RayRuntime`, the Runtime that calls them. I/O: the cluster.

``serve --ray`` sets :meth:`ServeDeployments.open` as the server's runtime opener: the first time a model is
needed (warm-up, a request naming it) it becomes one Serve application ``visioncast-<model>`` whose replicas
(:class:`ModelReplica`, one engine each, placed by Serve across the nodes) load the model from bytes sent
with the deployment — no node needs the file. The server keeps its tasks (pre- and post-processing, NMS,
tracking) and only the runtime's calls cross the cluster — ``run`` for a request, ``open_async`` (several
frames in flight, :class:`RayAsyncQueue`) for the pipeline of a video job, a stream, the webcam — so the API,
pages, video jobs, streams, MQTT push and the KServe v2 routes work unchanged. Image tensors travel as uint8
when that is exact (:func:`compact_feeds`: a quarter of YOLOX's 2.1 MB float32 input).

A request's image (:func:`~visioncast.tasks.base.run_stages`) goes further: :meth:`RayRuntime.run_task` has
the replica run the task's postprocess too, so only the Result comes back — YOLOX-nano's answer is a few
hundred bytes instead of its 1.2 MB output tensor. The task travels once per replica, without its runtime
(pickled; the replica keeps it under its digest and asks for it when it does not know it); a task that
cannot be pickled (one holding a lock) runs its stages on the server as before. Pipelines keep the raw
outputs (their postprocess feeds the tracker in frame order on the server).

Failures: a replica that dies mid-request (node lost, process killed) is retried on another replica up to
``retries`` times within ``timeout_s``; what still fails raises :class:`ModelError`, which the server answers
503 and a pipeline stops with. Nothing waits longer than ``timeout_s`` per call.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import pickle
import tempfile
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from visioncast.core.types import Result
from visioncast.errors import ModelError
from visioncast.models.registry import ModelInfo
from visioncast.runtimes import open_runtime, replica_engine
from visioncast.runtimes.base import AsyncCallback, TensorSpec
from visioncast.runtimes.threaded import ThreadedQueue
from visioncast.scale.cluster import Replicas, import_ray
from visioncast.tasks.base import without_runtime

log = logging.getLogger(__name__)
APP_PREFIX = "visioncast-"
# Requests a replica takes at once (Serve runs them on its thread pool; onnxruntime then uses its
# one-thread-per-call session). Low values make Serve's router hold the rest and back off: with 2 and
# 4 clients on 1 replica the p50 went from ~120 to 440 ms (bench/bench_ray.py).
MAX_ONGOING = 8
RETRY_PAUSE_S = 0.2  # × attempt: time for Serve's router to learn that a replica died
# Requests one pipeline keeps in flight per replica when it does not say (open_async(0, …)): one being
# inferred while the next frame's tensors travel, so neither the replica nor the pipeline waits.
JOBS_PER_REPLICA = 2
COMPACT_MIN_VALUES = 4096  # below this the check costs more than the bytes it saves
TASKS_KEPT = 16  # tasks a replica keeps for run_task (one per model normally; a few with per-stream copies)
UNKNOWN_TASK = "unknown-task"  # a replica's answer to run_task with a digest it has not been sent


class ModelReplica:
    """One replica: the model on a local engine. Runs inside a Ray Serve replica actor."""

    def __init__(self, name: str, model_bytes: bytes, *, engine: str = "onnxruntime", threads: int = 1,
                 device: str = "CPU", precision: str = "f32") -> None:
        digest = hashlib.sha256(model_bytes).hexdigest()[:16]
        self._dir = tempfile.TemporaryDirectory(prefix="visioncast-replica-")
        path = Path(self._dir.name) / f"{digest}.onnx"
        path.write_bytes(model_bytes)
        self.name = name
        self.runtime = open_runtime(path, replica_engine(engine), device=device, precision=precision,
                                    threads=threads)
        self._tasks: dict[str, Any] = {}  # digest → task (run_task), the oldest dropped past TASKS_KEPT

    def describe(self) -> dict[str, Any]:
        """The model's engine, tensors and metadata, and where this replica runs."""
        rt = self.runtime
        return {"engine": rt.engine, "inputs": rt.inputs, "outputs": rt.outputs,
                "metadata": dict(rt.metadata), "node": import_ray().get_runtime_context().get_node_id()}

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The engine's outputs; inputs :func:`compact_feeds` sent as uint8 become float32 again."""
        wide = {spec.name: feeds[spec.name].astype(np.float32) for spec in self.runtime.inputs
                if spec.dtype == "float32" and spec.name in feeds and feeds[spec.name].dtype == np.uint8}
        return self.runtime.run({**feeds, **wide})

    def run_task(self, digest: str, shipped: bytes | None, feeds: dict[str, np.ndarray],
                 prepared: Any) -> Result | str:
        """The engine on ``feeds`` and the task's postprocess on its outputs: the Result, with the
        postprocess's time in ``timings_ms``. ``shipped``: the task's pickle (without runtime) when this
        replica may not know ``digest`` yet; :data:`UNKNOWN_TASK` when it is None and the digest unknown."""
        task = self._tasks.get(digest)
        if task is None:
            if shipped is None:
                return UNKNOWN_TASK
            task = pickle.loads(shipped)  # from our own server, over Ray's own (pickled) calls
            task.runtime = self.runtime
            if len(self._tasks) >= TASKS_KEPT:
                self._tasks.pop(next(iter(self._tasks)))
            self._tasks[digest] = task
        outputs = self.run(feeds)
        t0 = time.perf_counter()
        result = task.postprocess(outputs, prepared)
        return dataclasses.replace(result, timings_ms={"postprocess": (time.perf_counter() - t0) * 1e3})

    def node(self) -> str:
        """The id of the Ray node this replica runs on (to see the spread)."""
        return str(import_ray().get_runtime_context().get_node_id())

    def close(self) -> None:
        """Free the engine and remove the model's temporary file (Serve just ends the process)."""
        self.runtime.close()
        self._dir.cleanup()


def compact_feeds(feeds: dict[str, np.ndarray],
                  names: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """``feeds`` with each large float32 tensor (of ``names``, default all) whose values are all whole numbers
    0–255 (a letterboxed image as YOLOX takes it) as uint8: a quarter of the bytes to send, exactly the same
    values once widened again by the replica. Other tensors (normalised images, anything else) go as they
    are."""
    out = dict(feeds)
    for name, x in feeds.items():
        if names is not None and name not in names:
            continue
        if x.dtype == np.float32 and x.size >= COMPACT_MIN_VALUES:
            with np.errstate(invalid="ignore"):  # NaN/inf do not convert: then the comparison fails
                small = x.astype(np.uint8)
            if np.array_equal(small, x):
                out[name] = small
    return out


class RayRuntime:
    """The Runtime protocol over a Serve deployment handle; counts ``calls``, ``retried`` and ``failed``.

    ``async_jobs``: the requests :meth:`open_async` keeps in flight when the caller says ≤ 0; ``compact``:
    send image tensors as uint8 when that is exact (:func:`compact_feeds`); ``remote_post``: an image
    request's postprocess runs on the replica (:meth:`run_task`; False: its outputs come back as tensors, to
    measure what that saves).
    """

    def __init__(self, name: str, handle: Any, *, timeout_s: float = 30.0, retries: int = 2,
                 async_jobs: int = JOBS_PER_REPLICA, compact: bool = True) -> None:
        self.name, self._handle, self.timeout_s, self.retries = name, handle, timeout_s, retries
        self.async_jobs, self.compact, self.remote_post = async_jobs, compact, True
        self.calls = self.retried = self.failed = 0
        self._lock = threading.Lock()
        self._tasks: dict[int, tuple[Any, tuple[str, bytes] | None]] = {}  # id → (task, what run_task sends)
        described = self._call("describe")
        self.engine: str = described["engine"]
        self.inputs: tuple[TensorSpec, ...] = tuple(described["inputs"])
        self.outputs: tuple[TensorSpec, ...] = tuple(described["outputs"])
        self.metadata: dict[str, str] = dict(described["metadata"])

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One inference on some replica (retried on another if the replica dies); ModelError if it fails."""
        wire = self.wire(feeds)
        return self.finish(self.start(wire), wire, time.monotonic() + self.timeout_s)

    def run_task(self, task: Any, prepared: Any) -> Result | None:
        """``task``'s engine call and postprocess on a replica (the RemoteStages protocol): only the Result
        travels back. None when ``task`` cannot be pickled (the caller runs its stages here instead)."""
        shipped = self._shipped(task) if self.remote_post else None
        if shipped is None:
            return None
        digest, blob = shipped
        wire = self.wire(prepared.feeds)
        light = dataclasses.replace(prepared, feeds={})
        with self._lock:
            self.calls += 1
        try:
            answer = self._call("run_task", digest, None, wire, light)
            if answer == UNKNOWN_TASK:  # a replica that has not met this task yet (new, or restarted)
                answer = self._call("run_task", digest, blob, wire, light)
        except ModelError:
            with self._lock:
                self.failed += 1
            raise
        return answer

    def _shipped(self, task: Any) -> tuple[str, bytes] | None:
        """``task`` without its runtime, pickled once: (digest, bytes); None if it cannot be pickled."""
        key = id(task)
        with self._lock:
            known = self._tasks.get(key)
        if known is not None and known[0] is task:
            return known[1]
        try:
            blob = pickle.dumps(without_runtime(task), protocol=pickle.HIGHEST_PROTOCOL)
            shipped: tuple[str, bytes] | None = (hashlib.sha256(blob).hexdigest()[:24], blob)
        except (TypeError, AttributeError, pickle.PicklingError) as exc:
            log.info("model %s: its %s runs its postprocess on the server (%s)", self.name,
                     type(task).__name__, exc)
            shipped = None
        with self._lock:
            if len(self._tasks) >= TASKS_KEPT:
                self._tasks.pop(next(iter(self._tasks)))
            self._tasks[key] = (task, shipped)  # the task kept alive: its id is not reused meanwhile
        return shipped

    def wire(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``feeds`` as they are sent (see ``compact``)."""
        if not self.compact:
            return feeds
        return compact_feeds(feeds, {spec.name for spec in self.inputs if spec.dtype == "float32"})

    def start(self, wire: dict[str, np.ndarray]) -> Any:
        """Send one inference of :meth:`wire` feeds (returns at once): its DeploymentResponse, for
        :meth:`finish`."""
        with self._lock:
            self.calls += 1
        return self._handle.run.remote(wire)

    def finish(self, response: Any, feeds: dict[str, np.ndarray], deadline: float) -> list[np.ndarray]:
        """The outputs of a :meth:`start`-ed inference, sent again if its replica died, until ``deadline``
        (``time.monotonic()``); ModelError if it fails."""
        try:
            return list(self._call("run", feeds, first=response, deadline=deadline))
        except ModelError:
            with self._lock:
                self.failed += 1
            raise

    def open_async(self, jobs: int, callback: AsyncCallback) -> RayAsyncQueue:
        """``jobs`` requests in flight through the handle (≤ 0: ``async_jobs``, a few per replica), with
        the retry and timeout rules of :meth:`run`; ``callback(outputs, userdata)`` gets each result."""
        return RayAsyncQueue(self, jobs if jobs > 0 else self.async_jobs, callback)

    def _call(self, method: str, *args: Any, first: Any = None, deadline: float | None = None) -> Any:
        """``method`` on a replica: ``first`` (a response already sent) or a new call, then new calls while
        replicas are lost, until ``deadline`` (default: ``timeout_s`` from now)."""
        ray = import_ray()
        retryable = (ray.exceptions.RayActorError, ray.serve.exceptions.BackPressureError,
                     ray.serve.exceptions.DeploymentUnavailableError)
        deadline = time.monotonic() + self.timeout_s if deadline is None else deadline
        last: BaseException | None = None
        response = first
        for attempt in range(self.retries + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                if response is None:
                    response = getattr(self._handle, method).remote(*args)
                # Our callers are request and pipeline threads. A foreign event loop running in the calling
                # thread (Playwright's sync API, Jupyter) would make Serve refuse a blocking wait; blocking
                # here is what every runtime's run() does anyway.
                return response.result(timeout_s=left, _skip_asyncio_check=True)
            except TimeoutError as exc:
                response.cancel()
                raise ModelError(f"model {self.name!r}: no replica answered within "
                                 f"{self.timeout_s:g} s") from exc
            except retryable as exc:
                last, response = exc, None
                if attempt < self.retries:
                    with self._lock:
                        self.retried += 1
                    log.warning("model %s: replica lost (%s); retrying", self.name, type(exc).__name__)
                    time.sleep(min(RETRY_PAUSE_S * (attempt + 1), max(0.0, deadline - time.monotonic())))
            except ray.exceptions.RayTaskError as exc:
                raise ModelError(f"model {self.name!r} failed on its replica: {exc.cause}") from exc
        raise ModelError(f"model {self.name!r}: its replicas are unavailable "
                         f"({self.retries + 1} tries; last: {type(last).__name__ if last else 'timeout'})")

    def close(self) -> None:
        """Nothing local to free; :meth:`ServeDeployments.close` removes the deployment."""


class RayAsyncQueue(ThreadedQueue):
    """Inferences in flight on a Serve deployment (:class:`~visioncast.runtimes.threaded.ThreadedQueue`).

    ``submit`` sends the request through the handle at once (Serve's router picks a replica) and hands its
    response to one of ``jobs`` waiter threads, which block on it — retrying on another replica as
    :meth:`RayRuntime.run` does, each job within the runtime's timeout from its submit — and run the callback.
    """

    def __init__(self, runtime: RayRuntime, jobs: int, callback: AsyncCallback) -> None:
        self._runtime = runtime
        super().__init__(jobs, callback, what=f"Ray queue of model {runtime.name!r}", engine="Ray",
                         threads=f"visioncast-ray-{runtime.name}")

    def _begin(self, feeds: dict[str, np.ndarray]) -> Any:
        deadline = time.monotonic() + self._runtime.timeout_s
        wire = self._runtime.wire(feeds)
        try:
            response = self._runtime.start(wire)
        except Exception:  # the waiter sends it again under run's rules; a job lost here would hang wait_all
            log.exception("model %s: could not send an async job", self._runtime.name)
            response = None
        return response, wire, deadline

    def _finish(self, job: tuple[Any, dict[str, np.ndarray], float]) -> list[np.ndarray]:
        response, wire, deadline = job
        return self._runtime.finish(response, wire, deadline)


class ServeDeployments:
    """Deploys each model once as a Serve application and opens RayRuntimes on it (the server's opener)."""

    def __init__(self, replicas: Replicas, *, replica_cpus: float = 1.0, timeout_s: float = 30.0,
                 deploy_timeout_s: float = 60.0, engine: str = "onnxruntime") -> None:
        self.replicas, self.replica_cpus, self.engine = replicas, replica_cpus, engine
        self.timeout_s, self.deploy_timeout_s = timeout_s, deploy_timeout_s
        self.apps: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._started = False

    def _start_serve(self, ray: Any) -> None:
        if not self._started:
            ray.serve.start(proxy_location="Disabled")  # handles only: no HTTP proxy on every node
            self._started = True

    def handle(self, info: ModelInfo) -> Any:
        """The deployment handle of ``info`` (deployed on first use, ready when this returns)."""
        ray = import_ray()
        with self._lock:
            if info.name not in self.apps:
                self._start_serve(ray)
                deployment = ray.serve.deployment(
                    ModelReplica, name=f"{APP_PREFIX}{info.name}", max_ongoing_requests=MAX_ONGOING,
                    ray_actor_options={"num_cpus": self.replica_cpus}, **self.replicas.options())
                app = deployment.bind(info.name, info.path.read_bytes(), engine=self.engine,
                                      threads=max(1, int(self.replica_cpus)))
                self.apps[info.name] = self._deploy(ray, app, info.name)
                log.info("deployed %s on Ray Serve (%s replicas)", info.name, self.replicas)
            return self.apps[info.name]

    def _deploy(self, ray: Any, app: Any, name: str) -> Any:
        """Run ``app`` and wait (at most ``deploy_timeout_s``) until its replicas are up; its handle.

        ``serve.run`` would wait for ever when the cluster lacks the CPUs the replicas ask for, so the
        non-blocking ``serve._run`` (what Serve's own CLI uses) is followed by our own bounded wait.
        """
        app_name = f"{APP_PREFIX}{name}"
        try:
            handle = ray.serve._run(app, _blocking=False, name=app_name, route_prefix=None)
        except (ray.exceptions.RayError, RuntimeError, ValueError) as exc:
            raise ModelError(f"cannot deploy model {name!r} on Ray Serve: {exc}") from exc
        deadline = time.monotonic() + self.deploy_timeout_s
        while time.monotonic() < deadline:
            status = ray.serve.status().applications.get(app_name)
            if status is not None and status.status == "RUNNING":
                return handle
            if status is not None and status.status == "DEPLOY_FAILED":
                break
            time.sleep(0.2)
        why = [] if status is None else [status.message or status.status]
        why += [d.message for d in (status.deployments.values() if status else ()) if d.message]
        ray.serve.delete(app_name, _blocking=True)
        raise ModelError(f"model {name!r}: its {self.replicas.low} replica(s) of {self.replica_cpus:g} CPU "
                         f"did not start within {self.deploy_timeout_s:g} s: {' '.join(why)}")

    def open(self, info: ModelInfo) -> RayRuntime:
        """A Runtime for ``info`` running in its deployment (the ``Services.runtime_opener`` signature)."""
        if not info.path.is_file():
            raise ModelError(f"model file not found: '{info.path}'")
        return RayRuntime(info.name, self.handle(info), timeout_s=self.timeout_s,
                          async_jobs=self.replicas.high * JOBS_PER_REPLICA)

    def close(self) -> None:
        """Remove this server's applications (their replicas stop)."""
        ray = import_ray()
        with self._lock:
            names, self.apps = list(self.apps), {}
        for name in names:
            try:
                ray.serve.delete(f"{APP_PREFIX}{name}", _blocking=True)
            except (ray.exceptions.RayError, RuntimeError) as exc:
                log.warning("could not remove the Serve application of %s: %s", name, exc)
