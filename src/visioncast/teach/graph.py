"""ONNX graph surgery for taught models: cut a shipped classifier before its classifier layer (the frozen
feature extractor) and append a trained head (Flatten → Gemm → Softmax) with the labels in the metadata. No
file I/O: models in, models out (``onnx`` does the graph work).

The result is one ordinary ONNX classifier — same input as the extractor, one output ``probabilities``
[1, classes] — so the registry, every channel and other tools load it like any classifier.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference, utils

from visioncast.errors import ModelError
from visioncast.teach.head import LinearHead

OUTPUT = "probabilities"


def cut_features(model: onnx.ModelProto, tensor: str) -> onnx.ModelProto:
    """The part of ``model`` that computes ``tensor`` from the model's inputs (ModelError when absent)."""
    inferred = shape_inference.infer_shapes(model)
    inputs = [i.name for i in inferred.graph.input]
    try:
        return utils.Extractor(inferred).extract_model(inputs, [tensor])
    except ValueError as exc:
        raise ModelError(f"the extractor has no tensor {tensor!r}: {exc}") from exc


def with_head(features: onnx.ModelProto, head: LinearHead, labels: list[str],
              metadata: dict[str, str]) -> onnx.ModelProto:
    """``features`` (one output [1, D, …]) + Flatten → Gemm(head) → Softmax; labels as ``names``."""
    if head.weight.shape[1] != len(labels):
        raise ModelError(f"the head has {head.weight.shape[1]} classes but {len(labels)} labels were given")
    graph = onnx.GraphProto()
    graph.CopyFrom(features.graph)
    feat = graph.output[0].name
    graph.initializer.extend([numpy_helper.from_array(head.weight, "vc_head_weight"),
                              numpy_helper.from_array(head.bias, "vc_head_bias")])
    graph.node.extend([
        helper.make_node("Flatten", [feat], ["vc_features"], axis=1),
        helper.make_node("Gemm", ["vc_features", "vc_head_weight", "vc_head_bias"], ["vc_logits"]),
        helper.make_node("Softmax", ["vc_logits"], [OUTPUT], axis=1),
    ])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [1, len(labels)]))
    model = helper.make_model(graph, opset_imports=list(features.opset_import),
                              producer_name="visioncast-teach")
    del model.metadata_props[:]
    model.ir_version = features.ir_version
    props = {**metadata, "names": json.dumps(labels, ensure_ascii=False)}
    for key, value in props.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model)
    return model


POSE_FEATURES = "vc_pose_features"
_EPS = 1e-3


def pose_features(model: onnx.ModelProto, size: int) -> onnx.ModelProto:
    """A MoveNet graph (one input, NHWC int32, one output [1, 1, 17, 3] of (y, x, score)) turned into a
    feature extractor for pose classes: input ``image`` uint8 [1, size, size, 3] (cast inside), output
    [1, 51] = the keypoints centred on their score-weighted mean and divided by their score-weighted RMS
    distance to it (34: position and scale of the person do not matter), then the 17 scores. Computes what
    :func:`normalise_keypoints` computes."""
    graph = onnx.GraphProto()
    graph.CopyFrom(model.graph)
    (old_input,), (kp_out,) = list(graph.input), list(graph.output)
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info("image", TensorProto.UINT8, [1, size, size, 3]))
    nodes = [helper.make_node("Cast", ["image"], [old_input.name], to=old_input.type.tensor_type.elem_type)]
    nodes.extend(graph.node)
    del graph.node[:]
    consts: dict[str, np.ndarray] = {
        "vc_k3": np.array([17, 3], np.int64), "vc_zero": np.array([0, 0], np.int64),
        "vc_yx_end": np.array([17, 2], np.int64), "vc_s_start": np.array([0, 2], np.int64),
        "vc_s_end": np.array([17, 3], np.int64), "vc_axes01": np.array([0, 1], np.int64),
        "vc_axis0": np.array([0], np.int64), "vc_axis1": np.array([1], np.int64),
        "vc_eps": np.array(_EPS, np.float32), "vc_r34": np.array([1, 34], np.int64),
        "vc_r17": np.array([1, 17], np.int64),
    }
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in consts.items())
    mk = helper.make_node
    nodes += [
        mk("Reshape", [kp_out.name, "vc_k3"], ["vc_kp"]),
        mk("Slice", ["vc_kp", "vc_zero", "vc_yx_end", "vc_axes01"], ["vc_yx"]),
        mk("Slice", ["vc_kp", "vc_s_start", "vc_s_end", "vc_axes01"], ["vc_s"]),
        mk("Add", ["vc_s", "vc_eps"], ["vc_w"]),
        mk("ReduceSum", ["vc_w", "vc_axis0"], ["vc_wsum"], keepdims=1),
        mk("Mul", ["vc_yx", "vc_w"], ["vc_yxw"]),
        mk("ReduceSum", ["vc_yxw", "vc_axis0"], ["vc_yxsum"], keepdims=1),
        mk("Div", ["vc_yxsum", "vc_wsum"], ["vc_centre"]),
        mk("Sub", ["vc_yx", "vc_centre"], ["vc_d"]),
        mk("Mul", ["vc_d", "vc_d"], ["vc_d2"]),
        mk("ReduceSum", ["vc_d2", "vc_axis1"], ["vc_r2"], keepdims=1),
        mk("Mul", ["vc_r2", "vc_w"], ["vc_r2w"]),
        mk("ReduceSum", ["vc_r2w", "vc_axis0"], ["vc_r2sum"], keepdims=1),
        mk("Div", ["vc_r2sum", "vc_wsum"], ["vc_var"]),
        mk("Sqrt", ["vc_var"], ["vc_rms"]),
        mk("Add", ["vc_rms", "vc_eps"], ["vc_scale"]),
        mk("Div", ["vc_d", "vc_scale"], ["vc_nd"]),
        mk("Reshape", ["vc_nd", "vc_r34"], ["vc_nd34"]),
        mk("Reshape", ["vc_s", "vc_r17"], ["vc_s17"]),
        mk("Concat", ["vc_nd34", "vc_s17"], [POSE_FEATURES], axis=1),
    ]
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(POSE_FEATURES, TensorProto.FLOAT, [1, 51]))
    out = helper.make_model(graph, opset_imports=list(model.opset_import), producer_name="visioncast-teach")
    out.ir_version = model.ir_version
    onnx.checker.check_model(out)
    return out


def normalise_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """(17, 3) (y, x, score) → the 51 features of :func:`pose_features` (the numpy reference)."""
    kp = np.asarray(keypoints, np.float64).reshape(17, 3)
    yx, s = kp[:, :2], kp[:, 2:3]
    w = s + _EPS
    centre = (yx * w).sum(axis=0, keepdims=True) / w.sum()
    d = yx - centre
    rms = np.sqrt(((d * d).sum(axis=1, keepdims=True) * w).sum() / w.sum())
    return np.concatenate([(d / (rms + _EPS)).reshape(-1), s.reshape(-1)]).astype(np.float32)
