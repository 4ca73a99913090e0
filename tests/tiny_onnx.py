"""Builders of tiny ONNX graphs whose outputs are known constants, to pin decoders and tasks exactly.

Each graph adds ``0 × ReduceSum(input)`` to a constant so every input is used (onnxruntime would otherwise
complain about unused feeds) while the output stays exactly the constant the test chose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
Dim = int | str | None


def _zero_of(name: str, tag: str) -> list[onnx.NodeProto]:
    """Nodes computing the scalar ``0 × ReduceSum(name)`` into ``zero_<tag>``."""
    return [
        helper.make_node("ReduceSum", [name], [f"sum_{tag}"], keepdims=0),
        helper.make_node("Mul", [f"sum_{tag}", "zero_const"], [f"zero_{tag}"]),
    ]


def _save(graph: onnx.GraphProto, path: Path, metadata: Mapping[str, str] | None) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def constant_model(
    path: Path,
    outputs: Mapping[str, np.ndarray],
    *,
    input_name: str = "images",
    input_shape: Sequence[Dim] = (1, 3, 64, 64),
    input_type: int = TensorProto.FLOAT,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """One image input; each output is its constant array (float outputs get the input's zero added)."""
    nodes = [helper.make_node("Constant", [], ["zero_const"], value=numpy_helper.from_array(np.float32(0)))]
    if input_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [input_name], ["input_as_float"], to=TensorProto.FLOAT))
    nodes += _zero_of(input_name if input_type == TensorProto.FLOAT else "input_as_float", "in")
    graph_outputs = []
    for name, given in outputs.items():
        value = np.asarray(given)
        if value.dtype == np.float32:
            const = numpy_helper.from_array(value)
            nodes.append(helper.make_node("Constant", [], [f"c_{name}"], value=const))
            nodes.append(helper.make_node("Add", [f"c_{name}", "zero_in"], [name]))
        else:
            nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value)))
        elem = helper.np_dtype_to_tensor_dtype(value.dtype)
        graph_outputs.append(helper.make_tensor_value_info(name, elem, list(value.shape)))
    inputs = [helper.make_tensor_value_info(input_name, input_type, list(input_shape))]
    return _save(helper.make_graph(nodes, "tiny", inputs, graph_outputs), path, metadata)


def yolov3_zoo_model(
    path: Path,
    boxes_norm: np.ndarray,
    scores: np.ndarray,
    indices: np.ndarray,
    *,
    input_shape: Sequence[Dim] = (1, 3, 64, 64),
) -> Path:
    """The ONNX-zoo YOLOv3 interface: inputs ``input_1`` and ``image_shape`` [1, 2] (h, w); outputs
    ``yolonms_layer_1/ExpandDims_1:0`` boxes [1, N, 4] = ``boxes_norm`` (y1, x1, y2, x2 as fractions)
    × (h, w, h, w) read from ``image_shape``, ``yolonms_layer_1/ExpandDims_3:0`` scores [1, nc, N] and
    ``yolonms_layer_1/concat_2:0`` indices [M, 3] int32 (batch, class, box)."""
    boxes_norm = np.asarray(boxes_norm, np.float32)[None]
    scores = np.asarray(scores, np.float32)[None]
    indices = np.asarray(indices, np.int32).reshape(-1, 3)
    names = ("yolonms_layer_1/ExpandDims_1:0", "yolonms_layer_1/ExpandDims_3:0", "yolonms_layer_1/concat_2:0")
    nodes = [
        helper.make_node("Constant", [], ["zero_const"], value=numpy_helper.from_array(np.float32(0))),
        *_zero_of("input_1", "in"),
        helper.make_node("Concat", ["image_shape", "image_shape"], ["hwhw"], axis=1),
        helper.make_node("Constant", [], ["c_boxes"], value=numpy_helper.from_array(boxes_norm)),
        helper.make_node("Mul", ["c_boxes", "hwhw"], ["boxes_px"]),
        helper.make_node("Add", ["boxes_px", "zero_in"], [names[0]]),
        helper.make_node("Constant", [], ["c_scores"], value=numpy_helper.from_array(scores)),
        helper.make_node("Add", ["c_scores", "zero_in"], [names[1]]),
        helper.make_node("Constant", [], [names[2]], value=numpy_helper.from_array(indices)),
    ]
    inputs = [
        helper.make_tensor_value_info("input_1", TensorProto.FLOAT, list(input_shape)),
        helper.make_tensor_value_info("image_shape", TensorProto.FLOAT, [1, 2]),
    ]
    outputs = [
        helper.make_tensor_value_info(names[0], TensorProto.FLOAT, list(boxes_norm.shape)),
        helper.make_tensor_value_info(names[1], TensorProto.FLOAT, list(scores.shape)),
        helper.make_tensor_value_info(names[2], TensorProto.INT32, [None, 3]),
    ]
    return _save(helper.make_graph(nodes, "tiny_yolov3_zoo", inputs, outputs), path, None)


def classifier_model(path: Path, logits: Sequence[float], *, size: int = 8) -> Path:
    """A classifier: input ``input`` [1, 3, size, size], output ``logits`` [1, len(logits)] (constant)."""
    return constant_model(path, {"logits": np.asarray([logits], np.float32)}, input_name="input",
                          input_shape=(1, 3, size, size))


def scale_model(path: Path, metadata: Mapping[str, str] | None = None) -> Path:
    """y = 2·x on a [batch, 3, 4, 4] float input with a dynamic batch axis, plus metadata_props."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 4, 4])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["y"])], "scale", [x], [y], [two])
    return _save(graph, path, metadata)
