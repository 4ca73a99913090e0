"""The image prefix folded into an ONNX graph (runtimes/prefix.py): on both engines, the model receives
exactly what ``to_nchw`` would have made of the uint8 image, for each colour order and scale the decoders
use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from visioncast.runtimes import fold_image_input, open_runtime
from visioncast.runtimes.base import ImageInput
from visioncast.runtimes.prefix import add_image_prefix
from visioncast.tasks.preprocess import to_nchw

onnx = pytest.importorskip("onnx", reason="onnx builds the tiny graph")
from onnx import TensorProto, helper  # noqa: E402

ENGINES = ["onnxruntime", pytest.param("openvino", marks=pytest.mark.skipif(
    not __import__("importlib").util.find_spec("openvino"), reason="openvino not installed"))]


def identity_model(path: Path, shape: list[int | str] | None = None) -> Path:
    """images [1, 3, 24, 32] float32 → out = images + 0 (a node of the model reads the input)."""
    shape = shape or [1, 3, 24, 32]
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["images", "zero"], ["out"])], "identity",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, shape)], initializer=[zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("rgb", "scale"), [(False, 1.0), (True, 1 / 255), (False, 1 / 255)])
def test_folded_graph_sees_what_to_nchw_makes(tmp_path: Path, engine: str, rgb: bool, scale: float) -> None:
    runtime = open_runtime(identity_model(tmp_path / "id.onnx"), engine, threads=1)
    folded = fold_image_input(runtime, ImageInput("images", (32, 24), rgb, scale))
    assert folded is not None
    assert [(s.name, s.shape, s.dtype) for s in folded.inputs] == [("images", (1, 24, 32, 3), "uint8")]
    image = np.random.default_rng(3).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    got = folded.run({"images": image[None]})[0]
    np.testing.assert_array_equal(got, to_nchw(image, rgb=rgb, scale=scale))
    np.testing.assert_array_equal(runtime.run({"images": to_nchw(image, rgb=rgb, scale=scale)})[0], got)


def test_inputs_that_are_no_float_image_are_not_folded(tmp_path: Path) -> None:
    model = identity_model(tmp_path / "id.onnx", [1, 24, 32, 3]).read_bytes()  # NHWC float: 24 "channels"
    assert add_image_prefix(model, ImageInput("images", (32, 24), False)) is None
    nchw = identity_model(tmp_path / "nchw.onnx").read_bytes()
    assert add_image_prefix(nchw, ImageInput("other", (32, 24), False)) is None


@pytest.mark.skipif(not __import__("importlib").util.find_spec("openvino"), reason="openvino not installed")
def test_bf16_runtimes_are_not_folded(tmp_path: Path) -> None:
    """OpenVINO bf16 would convert the prefix's arithmetic too: the model would not get to_nchw's values."""
    runtime = open_runtime(identity_model(tmp_path / "id.onnx"), "openvino", precision="bf16", threads=1)
    assert fold_image_input(runtime, ImageInput("images", (32, 24), True, 1 / 255)) is None
