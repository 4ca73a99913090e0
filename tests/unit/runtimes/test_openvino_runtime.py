"""OpenVINO runtime on tiny ONNX graphs built here: specs, metadata, settings, async queue, and its errors."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from visioncast.errors import ModelError
from visioncast.runtimes import open_runtime

ov = pytest.importorskip("openvino", reason="openvino is not installed (pip install visioncast[openvino])")
onnx = pytest.importorskip("onnx", reason="onnx (test extra) builds the tiny graphs")
from tiny_onnx import scale_model as build_scale_model  # noqa: E402
from visioncast.runtimes.openvino import OpenVinoRuntime, compile_config  # noqa: E402

METADATA = {"names": "{0: '开心', 1: '愤怒'}", "imgsz": "[4, 4]", "author": "visioncast tests"}


@pytest.fixture(scope="module")
def scale_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_scale_model(tmp_path_factory.mktemp("ov") / "scale.onnx", METADATA)


@pytest.fixture(scope="module")
def runtime(scale_model: Path) -> OpenVinoRuntime:
    rt = open_runtime(scale_model, "openvino", threads=1)
    assert isinstance(rt, OpenVinoRuntime)
    return rt


def test_specs_and_metadata_match_onnxruntime(runtime: OpenVinoRuntime, scale_model: Path) -> None:
    ort_rt = open_runtime(scale_model, "onnxruntime", threads=1)
    assert runtime.engine == "openvino"
    assert runtime.metadata == ort_rt.metadata == METADATA
    assert [(s.name, s.dtype) for s in runtime.inputs] == [(s.name, s.dtype) for s in ort_rt.inputs]
    assert runtime.inputs[0].shape == (None, 3, 4, 4)
    assert runtime.outputs[0].name == "y"


def test_model_without_metadata_has_empty_metadata(tmp_path: Path) -> None:
    rt = open_runtime(build_scale_model(tmp_path / "plain.onnx"), "openvino", threads=1)
    assert rt.metadata == {}


def test_run_computes_and_returns_independent_copies(runtime: OpenVinoRuntime) -> None:
    x = np.arange(48, dtype=np.float32).reshape(1, 3, 4, 4)
    first = runtime.run({"x": x})[0]
    second = runtime.run({"x": np.ones((2, 3, 4, 4), np.float32)})[0]
    np.testing.assert_array_equal(first, 2 * x)
    np.testing.assert_array_equal(second, np.full((2, 3, 4, 4), 2, np.float32))


def test_precision_is_explicit(scale_model: Path) -> None:
    f32 = open_runtime(scale_model, "openvino", precision="f32", threads=1)
    bf16 = open_runtime(scale_model, "openvino", precision="bf16", threads=1)
    assert f32.effective_precision == "f32"
    assert bf16.effective_precision in ("bf16", "f32")  # f32 on CPUs without bf16 units


@pytest.mark.parametrize(("device", "keys"), [
    ("CPU", {"INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "PERFORMANCE_HINT"}),
    ("GPU", {"INFERENCE_PRECISION_HINT", "PERFORMANCE_HINT"}),
    ("AUTO", {"PERFORMANCE_HINT", "DEVICE_PROPERTIES"}),
])
def test_compile_config_per_device(device: str, keys: set[str]) -> None:
    config = compile_config(device, "f32", 2, "LATENCY")
    assert set(config) == keys
    if device == "AUTO":
        cpu = config["DEVICE_PROPERTIES"]["CPU"]
        assert cpu == {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 2}


def test_auto_device_runs(scale_model: Path) -> None:
    rt = open_runtime(scale_model, "openvino", device="auto", threads=1)
    out = rt.run({"x": np.ones((1, 3, 4, 4), np.float32)})[0]
    assert float(out.sum()) == 96.0


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"engine": "tensorrt"}, "engine must be one of onnxruntime, openvino, got 'tensorrt'"),
    ({"engine": "openvino", "device": "NPU"}, "device must be one of CPU, GPU, AUTO, got 'NPU'"),
    ({"engine": "openvino", "precision": "fp16"}, "precision must be one of f32, bf16, got 'fp16'"),
    ({"engine": "onnxruntime", "precision": "int8"}, "precision must be one of f32, bf16, got 'int8'"),
])
def test_bad_names_list_allowed_values(scale_model: Path, kwargs: dict[str, str], expected: str) -> None:
    with pytest.raises(ModelError, match=expected):
        open_runtime(scale_model, **kwargs)


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"device": "cpu"}, "device must be one of CPU, GPU, AUTO, got 'cpu'"),
    ({"precision": "f16"}, "precision must be one of f32, bf16, got 'f16'"),
])
def test_constructor_checks_names_too(scale_model: Path, kwargs: dict[str, str], expected: str) -> None:
    with pytest.raises(ModelError, match=expected):
        OpenVinoRuntime(scale_model, **kwargs)


@pytest.mark.skipif("GPU" in ov.Core().available_devices, reason="this machine has an OpenVINO GPU")
def test_missing_gpu_names_available_devices(scale_model: Path) -> None:
    with pytest.raises(ModelError, match=r"cannot compile 'scale.onnx' on GPU \(available devices: CPU"):
        open_runtime(scale_model, "openvino", device="GPU")


def test_corrupt_model_file_is_a_one_line_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelError, match=r"cannot load .*bad\.onnx.* with openvino") as info:
        open_runtime(bad, "openvino")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("feeds", "expected"), [
    ({"nope": np.zeros((1, 3, 4, 4), np.float32)}, r"inputs must be \['x'\], got \['nope'\]"),
    ({}, r"inputs must be \['x'\], got \[\]"),
    ({"x": np.zeros((1, 3, 5, 5))}, r"input 'x' must have shape \[\?, 3, 4, 4\], got \[1, 3, 5, 5"),
    ({"x": np.zeros((3, 4, 4), np.float32)}, r"input 'x' must have shape \[\?, 3, 4, 4\], got \[3, 4, 4\]"),
    ({"x": np.full((1, 3, 4, 4), "a")}, r"openvino failed to run 'scale\.onnx': could not convert string"),
])
def test_bad_feeds_are_model_errors(runtime: OpenVinoRuntime, feeds: dict, expected: str) -> None:
    with pytest.raises(ModelError, match=expected) as info:
        runtime.run(feeds)
    assert "\n" not in str(info.value)


def test_closed_runtime_refuses_to_run(scale_model: Path) -> None:
    rt = open_runtime(scale_model, "openvino", threads=1)
    rt.close()
    with pytest.raises(ModelError, match="is closed"):
        rt.run({"x": np.zeros((1, 3, 4, 4), np.float32)})


def test_missing_openvino_names_the_extra(scale_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # what an environment without the extra looks like
    with pytest.raises(ModelError, match=r"engine openvino needs `pip install visioncast\[openvino\]`"):
        open_runtime(scale_model, "openvino")


def test_async_queue_delivers_every_result_with_its_userdata(runtime: OpenVinoRuntime) -> None:
    results: dict[int, np.ndarray] = {}
    lock = threading.Lock()

    def on_result(outputs: list[np.ndarray], userdata: object) -> None:
        with lock:
            results[int(userdata)] = outputs[0]  # type: ignore[call-overload]

    with runtime.open_async(0, on_result) as queue:
        assert queue.jobs >= 1
        for i in range(12):
            queue.submit({"x": np.full((1, 3, 4, 4), i, np.float32)}, i)
        queue.wait_all()
    assert sorted(results) == list(range(12))
    assert all(float(out.max()) == 2 * i and float(out.min()) == 2 * i for i, out in results.items())
    assert (queue.submitted, queue.completed, queue.failed) == (12, 12, 0)


def test_async_callback_errors_are_counted_and_raised(runtime: OpenVinoRuntime) -> None:
    def on_result(outputs: list[np.ndarray], userdata: object) -> None:
        if userdata == 1:
            raise ValueError("callback bug")

    queue = runtime.open_async(2, on_result)
    for i in range(3):
        queue.submit({"x": np.zeros((1, 3, 4, 4), np.float32)}, i)
    expected = r"1 openvino async callback\(s\) failed; first: ValueError\('callback bug'\)"
    with pytest.raises(ModelError, match=expected):
        queue.wait_all()
    assert (queue.completed, queue.failed) == (2, 1)
    queue.wait_all()  # the error is reported once


def test_async_submit_checks_feeds(runtime: OpenVinoRuntime) -> None:
    queue = runtime.open_async(1, lambda outputs, userdata: None)
    with pytest.raises(ModelError, match=r"openvino failed to start on 'scale\.onnx'"):
        queue.submit({"x": np.full((1, 3, 4, 4), "a")})
    queue.wait_all()
    assert queue.submitted == 0
