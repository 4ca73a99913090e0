"""OpenVINO engine (the optional extra ``visioncast[openvino]``), sync and async. I/O: reads the model file.

Settings are explicit, never left to the plugin's guesses:

* **precision** — ``INFERENCE_PRECISION_HINT`` is always set, to ``f32`` (the default) or ``bf16``. On a CPU
  with AVX-512 bf16 (this project's AMD EPYC) OpenVINO would otherwise pick bf16 by itself;
  docs/benchmarks.md records how far bf16 moves the shipped models' boxes and scores.
* **threads** — ``INFERENCE_NUM_THREADS`` = ``threads`` (``open_runtime`` passes the CPUs available to the
  process). GPU takes no thread setting; AUTO passes the CPU settings through ``DEVICE_PROPERTIES``.
* **performance hint** — ``run`` uses a model compiled with ``PERFORMANCE_HINT=LATENCY`` (one stream using all
  threads: the fastest single image). ``open_async`` compiles a second copy with ``THROUGHPUT`` (several
  streams sharing the threads: the most images per second when many are in flight).

``run`` is thread-safe: it owns one infer request behind a lock, so concurrent callers queue. For parallel
work use the async queue::

    def on_result(outputs: list[np.ndarray], userdata: object) -> None: ...

    with runtime.open_async(0, on_result) as queue:   # 0 jobs = OpenVINO's optimal number of requests
        for frame_index, feeds in enumerate(batches):
            queue.submit(feeds, frame_index)            # blocks while every job is busy
        queue.wait_all()

The callback receives the outputs (copies, in the order of ``runtime.outputs``, safe to keep) and the
``userdata`` given to ``submit``. It runs on an OpenVINO worker thread, possibly on several at once for
different jobs, and results may complete out of submission order (``userdata`` tells them apart): keep it
short and thread-safe. An exception escaping the callback would abort the process inside OpenVINO, so the
queue catches it, counts it in ``failed``, logs it, and ``wait_all`` raises ModelError chained to the first.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from visioncast.errors import ModelError
from visioncast.runtimes.base import DEVICES, PRECISIONS, AsyncCallback, TensorSpec

log = logging.getLogger(__name__)

INSTALL_HINT = "engine openvino needs `pip install visioncast[openvino]`"
HINTS = ("LATENCY", "THROUGHPUT")


def _openvino() -> Any:
    """The openvino module, imported on first use so the package works without the extra."""
    try:
        import openvino  # noqa: PLC0415 — optional extra, imported on first use
    except ImportError as exc:
        raise ModelError(INSTALL_HINT) from exc
    return openvino


def _reason(exc: BaseException) -> str:
    """OpenVINO messages are multi-line C++ traces; keep the last line that says something."""
    lines = [ln.strip() for ln in str(exc).splitlines()]
    useful = [ln for ln in lines if ln and not ln.startswith(("Exception from", "Check '"))]
    return useful[-1] if useful else (lines[0] if lines and lines[0] else type(exc).__name__)


def compile_config(device: str, precision: str, threads: int | None, hint: str) -> dict[str, Any]:
    """The compile_model properties for ``device`` (see the module docstring)."""
    cpu: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision}
    if threads:
        cpu["INFERENCE_NUM_THREADS"] = int(threads)
    if device == "CPU":
        return {**cpu, "PERFORMANCE_HINT": hint}
    if device == "GPU":
        return {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": hint}
    return {"PERFORMANCE_HINT": hint,
            "DEVICE_PROPERTIES": {"CPU": cpu, "GPU": {"INFERENCE_PRECISION_HINT": precision}}}


def _spec(port: Any) -> TensorSpec:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    return TensorSpec(port.get_any_name(), shape, port.get_element_type().to_dtype().name)


def _metadata(model: Any) -> dict[str, str]:
    """The ONNX metadata_props: OpenVINO's ONNX reader keeps them under rt_info["framework"]."""
    info = model.get_rt_info()
    if "framework" not in info:
        return {}
    framework = info["framework"]
    if not isinstance(framework, dict):
        return {}
    return {str(k): v.astype(str) for k, v in framework.items()}


def _outputs(request: Any, count: int) -> list[np.ndarray]:
    # The request reuses its output memory on the next inference: hand out copies.
    return [request.get_output_tensor(i).data.copy() for i in range(count)]


class OpenVinoRuntime:
    """A model compiled by OpenVINO on CPU, GPU or AUTO with an explicit precision, thread count and hint."""

    engine = "openvino"

    def __init__(self, path: Path, *, device: str = "CPU", precision: str = "f32",
                 threads: int | None = None, model: bytes | None = None) -> None:
        """``model``: the ONNX bytes to read instead of the file at ``path`` (a folded graph); ``path`` still
        names it in messages."""
        if device not in DEVICES:
            raise ModelError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
        if precision not in PRECISIONS:
            raise ModelError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        ov = _openvino()
        self.path = Path(path)
        self.device, self.precision, self.threads = device, precision, threads
        self.model_bytes = model  # the ONNX bytes read instead of the file (a rewritten graph), or None
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(str(self.path) if model is None else model)
        except RuntimeError as exc:
            raise ModelError(f"cannot load '{self.path}' with openvino: {_reason(exc)}") from exc
        self._compiled = self._compile("LATENCY")
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()
        self._throughput: Any = None
        self.inputs = tuple(_spec(p) for p in self._model.inputs)
        self.outputs = tuple(_spec(p) for p in self._model.outputs)
        self.metadata: dict[str, str] = _metadata(self._model)
        self.effective_precision = self._effective_precision()
        if self.effective_precision not in (None, precision):
            log.warning("openvino runs '%s' in %s although %s was asked", self.path.name,
                        self.effective_precision, precision)

    def _compile(self, hint: str) -> Any:
        config = compile_config(self.device, self.precision, self.threads, hint)
        try:
            return self._core.compile_model(self._model, self.device, config)
        except RuntimeError as exc:
            available = ", ".join(self._core.available_devices) or "none"
            raise ModelError(f"openvino cannot compile '{self.path.name}' on {self.device} "
                             f"(available devices: {available}): {_reason(exc)}") from exc

    def _effective_precision(self) -> str | None:
        """The precision the plugin really uses; None where the device reports none (AUTO)."""
        try:
            return str(self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())
        except RuntimeError:
            return None

    def check_feeds(self, feeds: dict[str, np.ndarray]) -> None:
        """ModelError unless ``feeds`` holds exactly the model inputs with fitting shapes: OpenVINO itself
        runs on stale memory for a missing input and returns empty outputs for a wrong shape on a dynamic
        axis."""
        expected = {s.name for s in self.inputs}
        if set(feeds) != expected:
            raise ModelError(f"'{self.path.name}' inputs must be {sorted(expected)}, got {sorted(feeds)}")
        for spec in self.inputs:
            shape = np.shape(feeds[spec.name])
            fits = len(shape) == len(spec.shape) and all(
                want is None or want == got for want, got in zip(spec.shape, shape, strict=True))
            if not fits:
                want_text = "[" + ", ".join("?" if d is None else str(d) for d in spec.shape) + "]"
                raise ModelError(f"'{self.path.name}' input {spec.name!r} must have shape {want_text}, "
                                 f"got {list(shape)}")

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One inference on the latency-compiled model; outputs in the order of ``outputs``."""
        if self._compiled is None:
            raise ModelError(f"openvino runtime of '{self.path.name}' is closed")
        self.check_feeds(feeds)
        with self._lock:
            try:
                self._request.infer(feeds)
            except (RuntimeError, TypeError, ValueError) as exc:
                raise ModelError(f"openvino failed to run '{self.path.name}': {_reason(exc)}") from exc
            return _outputs(self._request, len(self.outputs))

    def open_async(self, jobs: int, callback: AsyncCallback) -> OpenVinoAsyncQueue:
        """A queue of ``jobs`` parallel requests (≤ 0: OpenVINO's optimal number) on the throughput-compiled
        model; ``callback(outputs, userdata)`` gets each result (see the module docstring)."""
        if self._compiled is None:
            raise ModelError(f"openvino runtime of '{self.path.name}' is closed")
        if self._throughput is None:
            self._throughput = self._compile("THROUGHPUT")
        if jobs <= 0:
            jobs = int(self._throughput.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        return OpenVinoAsyncQueue(self, self._throughput, jobs, callback)

    def reload(self, model: bytes) -> OpenVinoRuntime:
        """The same device, precision and threads on other ONNX bytes (a folded graph of this model)."""
        return OpenVinoRuntime(self.path, device=self.device, precision=self.precision, threads=self.threads,
                               model=model)

    def close(self) -> None:
        """Release the compiled models and the request."""
        with self._lock:
            self._request = self._compiled = self._throughput = None


class OpenVinoAsyncQueue:
    """In-flight inferences on an ``openvino.AsyncInferQueue``; counts ``completed``/``failed`` callbacks."""

    def __init__(self, runtime: OpenVinoRuntime, compiled: Any, jobs: int, callback: AsyncCallback) -> None:
        self._runtime = runtime
        self._callback = callback
        self._queue = _openvino().AsyncInferQueue(compiled, jobs)
        self._queue.set_callback(self._done)
        self._lock = threading.Lock()
        self._first_error: BaseException | None = None
        self.jobs = len(self._queue)
        self.submitted = self.completed = self.failed = 0

    def _done(self, request: Any, userdata: Any) -> None:
        try:
            self._callback(_outputs(request, len(self._runtime.outputs)), userdata)
        except Exception as exc:  # escaping into OpenVINO's thread would abort the process: count, log, keep
            log.exception("openvino async callback failed for %r", userdata)
            with self._lock:
                self.failed += 1
                self._first_error = self._first_error or exc
        else:
            with self._lock:
                self.completed += 1

    def submit(self, feeds: dict[str, np.ndarray], userdata: Any = None) -> None:
        """Start one inference; blocks while all ``jobs`` requests are busy."""
        self._runtime.check_feeds(feeds)
        try:
            self._queue.start_async(feeds, userdata)
        except (RuntimeError, TypeError, ValueError) as exc:
            name = self._runtime.path.name
            raise ModelError(f"openvino failed to start on '{name}': {_reason(exc)}") from exc
        self.submitted += 1

    def wait_all(self) -> None:
        """Block until every submitted inference has run its callback; ModelError if a callback failed."""
        try:
            self._queue.wait_all()
        except RuntimeError as exc:
            raise ModelError(f"openvino async inference failed on '{self._runtime.path.name}': "
                             f"{_reason(exc)}") from exc
        with self._lock:
            error, failed, self._first_error = self._first_error, self.failed, None
        if error is not None:
            raise ModelError(f"{failed} openvino async callback(s) failed; first: {error!r}") from error

    def __enter__(self) -> OpenVinoAsyncQueue:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.wait_all()
        else:
            self._queue.wait_all()  # let in-flight requests finish before their buffers go away
