"""ONNX Runtime engine (the default), sync and async. I/O: reads the model file.

Two sessions on the same file, like OpenVINO's LATENCY and THROUGHPUT compilations:

* the **latency** session runs one image on every intra-op thread (``threads`` = the CPUs available) — the
  fastest single image;
* the **throughput** session (made on first use) has one intra-op thread per call, so several calls run side
  by side on different cores. For the small graphs visioncast ships this is the better use of the cores
  when more than one image is waiting: on 2 cores YOLOX-nano ran 1.3× the images per second of back-to-back
  latency runs (docs/benchmarks.md), because an intra-op split of one small image spends much of its time
  synchronising and spin-waiting.

``run`` picks per call: the throughput session while another ``run`` is in flight or was, less than
``CROWDED_S`` ago (concurrent HTTP requests: between two overlapping runs each request also decodes and
answers, and a lone run on the latency session then would spin both cores against that work); otherwise the
latency session (a single user gets the fastest answer).
``open_async(jobs, callback)`` keeps ``jobs`` calls in flight on worker threads with the same contract as
the OpenVINO queue (see ``runtimes/openvino.py``): ``submit`` blocks while every job is busy, the callback
gets ``(outputs, userdata)`` on a worker thread, possibly out of order; a failing call or callback is counted
in ``failed`` and ``wait_all`` raises ModelError chained to the first.

Both sessions: inter-op = 1 and sequential execution (these graphs are a single chain).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from visioncast.errors import ModelError
from visioncast.runtimes.base import AsyncCallback, TensorSpec
from visioncast.runtimes.threaded import ThreadedQueue

log = logging.getLogger(__name__)

CROWDED_S = 1.0  # after runs overlapped, keep to the throughput session this long

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
}


def _spec(arg: ort.NodeArg) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else (d or None) for d in (arg.shape or ()))
    return TensorSpec(arg.name, shape, _ORT_TYPES.get(arg.type, arg.type))


def _session(path: Path, threads: int, model: bytes | None = None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path) if model is None else model, opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several unrelated types for a bad file
        raise ModelError(f"cannot load '{path}' with onnxruntime: {exc}") from exc


class OnnxRuntime:
    """A model loaded in onnxruntime (CPU execution provider); see the module docstring for the sessions."""

    engine = "onnxruntime"

    def __init__(self, path: Path, *, device: str = "CPU", threads: int = 1, model: bytes | None = None
                 ) -> None:
        """``model``: the ONNX bytes to load instead of the file at ``path`` (a folded graph); ``path`` still
        names it in messages."""
        if device not in ("CPU", "AUTO"):
            raise ModelError(f"onnxruntime in visioncast runs on CPU only, got device {device!r}; "
                             "use --engine openvino for GPU")
        self._model = model
        self.device = device
        self._session: ort.InferenceSession | None = _session(path, threads, model)
        self._throughput: ort.InferenceSession | None = None if threads > 1 else self._session
        self._lock = threading.Lock()
        self._in_flight = 0
        self._crowded_until = 0.0
        self.path = path
        self.threads = threads
        self.inputs = tuple(_spec(a) for a in self._session.get_inputs())
        self.outputs = tuple(_spec(a) for a in self._session.get_outputs())
        meta = self._session.get_modelmeta()
        self.metadata: dict[str, str] = dict(meta.custom_metadata_map or {})
        self._output_names = [o.name for o in self.outputs]

    def _throughput_session(self) -> ort.InferenceSession:
        with self._lock:
            if self._session is None:
                raise ModelError(f"onnxruntime runtime of '{self.path.name}' is closed")
            if self._throughput is None:
                self._throughput = _session(self.path, 1, self._model)
            return self._throughput

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """One inference: on the latency session when alone, the throughput one when calls overlap."""
        with self._lock:
            self._in_flight += 1
            now = time.monotonic()
            if self._in_flight > 1:
                self._crowded_until = now + CROWDED_S
            crowded = now < self._crowded_until
            session = self._session
        try:
            if session is None:
                raise ModelError(f"onnxruntime runtime of '{self.path.name}' is closed")
            if crowded:
                session = self._throughput_session()
            return self._call(session, feeds)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _call(self, session: ort.InferenceSession, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        try:
            return list(session.run(self._output_names, feeds))
        except Exception as exc:  # InvalidArgument / Fail / RuntimeException are not exported types
            raise ModelError(f"onnxruntime failed to run '{self.path.name}': {exc}") from exc

    def open_async(self, jobs: int, callback: AsyncCallback) -> OnnxAsyncQueue:
        """``jobs`` calls in flight (≤ 0: one per thread of the latency session) on the throughput session;
        ``callback(outputs, userdata)`` gets each result."""
        session = self._throughput_session()
        return OnnxAsyncQueue(self, session, jobs if jobs > 0 else self.threads, callback)

    @property
    def model_bytes(self) -> bytes | None:
        """The ONNX bytes loaded instead of the file (a rewritten graph), or None."""
        return self._model

    def reload(self, model: bytes) -> OnnxRuntime:
        """The same engine settings on other ONNX bytes (a folded graph of this model)."""
        return OnnxRuntime(self.path, device=self.device, threads=self.threads, model=model)

    def close(self) -> None:
        with self._lock:
            self._session = self._throughput = None


class OnnxAsyncQueue(ThreadedQueue):
    """``jobs`` worker threads running submitted feeds on the session (:class:`ThreadedQueue`)."""

    def __init__(self, runtime: OnnxRuntime, session: ort.InferenceSession, jobs: int,
                 callback: AsyncCallback) -> None:
        self._runtime, self._session = runtime, session
        super().__init__(jobs, callback, what=f"onnxruntime queue of '{runtime.path.name}'",
                         engine="onnxruntime", threads="visioncast-ort")

    def _finish(self, job: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._runtime._call(self._session, job)
