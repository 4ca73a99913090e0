"""onnxruntime engine on a tiny graph built here: the latency/throughput sessions and the async queue."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from visioncast.errors import ModelError
from visioncast.runtimes import open_runtime
from visioncast.runtimes.onnx import OnnxRuntime

onnx = pytest.importorskip("onnx", reason="onnx (test extra) builds the tiny graph")
from tiny_onnx import scale_model as build_scale_model  # noqa: E402


@pytest.fixture(scope="module")
def scale_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_scale_model(tmp_path_factory.mktemp("ort") / "scale.onnx")


@pytest.fixture
def runtime(scale_model: Path) -> OnnxRuntime:
    rt = open_runtime(scale_model, "onnxruntime", threads=2)
    assert isinstance(rt, OnnxRuntime)
    return rt


def feeds(value: float) -> dict[str, np.ndarray]:
    return {"x": np.full((1, 3, 4, 4), value, np.float32)}


def test_concurrent_runs_all_answer_their_own_input(runtime: OnnxRuntime) -> None:
    got: dict[int, float] = {}
    start = threading.Barrier(8)

    def call(i: int) -> None:
        start.wait(timeout=10)
        for _ in range(20):
            out = runtime.run(feeds(i))[0]
            assert float(out.min()) == float(out.max()) == 2 * i
        got[i] = float(runtime.run(feeds(i))[0][0, 0, 0, 0])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {i: 2.0 * i for i in range(8)}


def test_async_queue_delivers_every_result_with_its_userdata(runtime: OnnxRuntime) -> None:
    results: dict[int, np.ndarray] = {}
    lock = threading.Lock()
    workers: set[str] = set()

    def on_result(outputs: list[np.ndarray], userdata: object) -> None:
        with lock:
            results[int(userdata)] = outputs[0]  # type: ignore[call-overload]
            workers.add(threading.current_thread().name)

    with runtime.open_async(0, on_result) as queue:
        assert queue.jobs == 2  # 0 = one job per thread of the latency session
        for i in range(24):
            queue.submit(feeds(i), i)
        queue.wait_all()
        assert (queue.submitted, queue.completed, queue.failed) == (24, 24, 0)
    assert sorted(results) == list(range(24))
    assert all(float(out.max()) == float(out.min()) == 2 * i for i, out in results.items())
    assert workers <= {"visioncast-ort-0", "visioncast-ort-1"}
    assert not any(t.name.startswith("visioncast-ort-") for t in threading.enumerate())  # closed on exit


def test_async_errors_are_counted_and_raised_once(runtime: OnnxRuntime) -> None:
    def on_result(outputs: list[np.ndarray], userdata: object) -> None:
        if userdata == 1:
            raise ValueError("callback bug")

    queue = runtime.open_async(2, on_result)
    queue.submit(feeds(0), 0)
    queue.submit(feeds(1), 1)
    queue.submit({"x": np.zeros((1, 3, 5, 5), np.float32)}, 2)  # wrong shape: the run itself fails
    with pytest.raises(ModelError, match=r"2 onnxruntime async job\(s\) failed; first: "):
        queue.wait_all()
    assert (queue.submitted, queue.completed, queue.failed) == (3, 1, 2)
    queue.wait_all()  # reported once
    queue.close()
    with pytest.raises(ModelError, match=r"the onnxruntime queue of 'scale\.onnx' is closed"):
        queue.submit(feeds(3), 3)


def test_submit_blocks_while_every_job_is_busy(runtime: OnnxRuntime) -> None:
    release = threading.Event()
    started = threading.Semaphore(0)

    def on_result(outputs: list[np.ndarray], userdata: object) -> None:
        started.release()
        release.wait(timeout=10)

    with runtime.open_async(1, on_result) as queue:
        queue.submit(feeds(0), 0)
        assert started.acquire(timeout=10)
        third = threading.Thread(target=lambda: queue.submit(feeds(1), 1))
        third.start()
        third.join(0.3)
        assert third.is_alive()  # the only job is busy: submit waits
        release.set()
        third.join(10)
        assert not third.is_alive()
    assert queue.completed == 2


def test_a_closed_runtime_says_so(scale_model: Path) -> None:
    rt = open_runtime(scale_model, "onnxruntime", threads=1)
    rt.close()
    with pytest.raises(ModelError, match=r"onnxruntime runtime of 'scale\.onnx' is closed"):
        rt.run(feeds(1))
    with pytest.raises(ModelError, match=r"onnxruntime runtime of 'scale\.onnx' is closed"):
        rt.open_async(1, lambda outputs, userdata: None)  # type: ignore[attr-defined]
