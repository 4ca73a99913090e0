"""Dynamically quantised convolutions back on float weights (runtimes/dequantize.py), on a tiny graph that
onnxruntime's own ``quantize_dynamic`` quantises the way the int8 YOLOv8n export was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from visioncast.errors import ModelError
from visioncast.runtimes import open_runtime
from visioncast.runtimes.dequantize import dequantize_convolutions

onnx = pytest.importorskip("onnx", reason="onnx builds the tiny graph")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: E402


def conv_model(path: Path) -> Path:
    """x [1, 3, 16, 16] → Conv 3×3 (8 filters, bias) → Relu → Conv 1×1 (4) → y."""
    rng = np.random.default_rng(11)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.normal(0, 0.1, 8).astype(np.float32), "b1"),
             numpy_helper.from_array(rng.normal(0, 0.3, (4, 8, 1, 1)).astype(np.float32), "w2")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["y"])]
    graph = helper.make_graph(nodes, "convs", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                             [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 16])],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_float_weights_give_the_float_model_back(tmp_path: Path) -> None:
    floats = conv_model(tmp_path / "float.onnx")
    quantized = tmp_path / "int8.onnx"
    quantize_dynamic(str(floats), str(quantized), weight_type=QuantType.QUInt8)
    assert "ConvInteger" in {n.op_type for n in onnx.load(str(quantized)).graph.node}
    rewritten = dequantize_convolutions(quantized.read_bytes())
    assert rewritten is not None
    ops = {n.op_type for n in onnx.load_from_string(rewritten).graph.node}
    assert not ops & {"ConvInteger", "DynamicQuantizeLinear", "Cast"}
    assert "Conv" in ops
    # The float model with the weights rounded as the file stores them ((w − zero point) × scale) must give
    # what the rewritten graph gives: the convolutions are plain float ones on exactly those weights.
    graph = onnx.load_from_string(rewritten).graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    rounded = onnx.load(str(floats))
    convs = [n for n in graph.node if n.op_type == "Conv"]
    targets = [t for t in rounded.graph.initializer if t.name in ("w1", "w2")]
    for init, conv in zip(targets, convs, strict=True):
        init.CopyFrom(numpy_helper.from_array(weights[conv.input[1]], init.name))
    onnx.save(rounded, str(tmp_path / "rounded.onnx"))
    x = {"x": np.random.default_rng(2).normal(0, 1, (1, 3, 16, 16)).astype(np.float32)}
    got = open_runtime(quantized, dequantize=True).run(x)[0]
    np.testing.assert_allclose(got, open_runtime(tmp_path / "rounded.onnx").run(x)[0], atol=1e-5)
    np.testing.assert_allclose(got, open_runtime(floats).run(x)[0], atol=0.05)  # and near the original


def test_a_model_without_quantised_convolutions_is_refused(tmp_path: Path) -> None:
    floats = conv_model(tmp_path / "float.onnx")
    assert dequantize_convolutions(floats.read_bytes()) is None
    with pytest.raises(ModelError, match="no dynamically quantised convolutions"):
        open_runtime(floats, dequantize=True)
