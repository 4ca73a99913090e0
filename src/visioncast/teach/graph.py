"""ONNX graph surgery for taught models: cut a shipped classifier before its classifier layer (the frozen
feature extractor) and append a trained head (Flatten → Gemm → Softmax) with the labels in the metadata. No
file I/O: models in, models out (``onnx`` does the graph work).

The result is one ordinary ONNX classifier — same input as the extractor, one output ``probabilities``
[1, classes] — so the registry, every channel and other tools load it like any classifier.
"""

from __future__ import annotations

import json

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
    model.ir_version = features.ir_version
    props = {"names": json.dumps(labels, ensure_ascii=False), **metadata}
    for key, value in props.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model)
    return model
