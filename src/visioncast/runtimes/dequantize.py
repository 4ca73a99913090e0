"""Undo ONNX Runtime's dynamic int8 quantisation of convolutions: float weights, plain Conv. Pure (bytes in,
bytes out), no I/O of its own.

``quantize_dynamic`` exports (the int8 YOLOv8n among them) store each convolution's weights as uint8 with a
zero point and a scale, and quantise every activation at run time: DynamicQuantizeLinear → ConvInteger → Cast
→ Mul by (activation scale × weight scale). ONNX Runtime runs ConvInteger with generic integer kernels and
OpenVINO decomposes the pattern, so on a CPU with float or bf16 matrix units (AVX-512, AMX) the int8 file
is the slow way to run its own weights: the same weights, dequantised once at load ((w − zero point) × scale)
into a float Conv, ran 1.7× faster on ONNX Runtime and 4.5× faster on OpenVINO bf16 here
(docs/engines.md). The answers move by the activation quantisation the file no longer does, so the
automatic engine choice (models/choice.py) takes such a variant only when its results agree with the file's
within the documented tolerance.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _float_weight(ci: onnx.NodeProto, inits: dict[str, onnx.TensorProto], weight_scale: str) -> np.ndarray:
    w = numpy_helper.to_array(inits[ci.input[1]]).astype(np.float32)
    zero = numpy_helper.to_array(inits[ci.input[3]]).astype(np.float32)
    scale = numpy_helper.to_array(inits[weight_scale]).astype(np.float32)
    per_channel = (-1, *([1] * (w.ndim - 1)))
    zero = zero.reshape(per_channel) if zero.ndim else zero
    scale = scale.reshape(per_channel) if scale.ndim else scale
    return ((w - zero) * scale).astype(np.float32)


def _replace_conv(ci: onnx.NodeProto, producer: dict[str, onnx.NodeProto],
                  consumers: dict[str, list[onnx.NodeProto]], inits: dict[str, onnx.TensorProto]
                  ) -> tuple[onnx.NodeProto, onnx.NodeProto, onnx.TensorProto] | None:
    """(the Mul to replace, the float Conv replacing it, its weight) for one dynamically quantised conv, or
    None when the nodes around ``ci`` are not the exported pattern."""
    quantize = producer.get(ci.input[0])
    cast = next(iter(consumers.get(ci.output[0], [])), None)
    if quantize is None or quantize.op_type != "DynamicQuantizeLinear" or cast is None or \
            cast.op_type != "Cast":
        return None
    mul = next(iter(consumers.get(cast.output[0], [])), None)
    if mul is None or mul.op_type != "Mul" or len(consumers[ci.output[0]]) != 1:
        return None
    scales = producer.get(next((i for i in mul.input if i != cast.output[0]), ""))
    if scales is None or scales.op_type != "Mul" or quantize.output[1] not in scales.input:
        return None
    weight_scale = next((i for i in scales.input if i != quantize.output[1]), "")
    if not all(name in inits for name in (ci.input[1], ci.input[3], weight_scale)):
        return None
    name = f"visioncast_dequantized/{mul.output[0]}"  # output names are unique in a graph; node names may not
    weight = numpy_helper.from_array(_float_weight(ci, inits, weight_scale), f"{name}/weight")
    conv = helper.make_node("Conv", [quantize.input[0], weight.name], [mul.output[0]], name=name)
    conv.attribute.extend(a for a in ci.attribute)
    return mul, conv, weight


def _prune(graph: onnx.GraphProto) -> None:
    """Drop nodes whose outputs nothing reads, then initializers no node reads."""
    nodes = list(graph.node)
    outputs = {o.name for o in graph.output}
    while True:
        used = {i for n in nodes for i in n.input} | outputs
        alive = [n for n in nodes if any(o in used for o in n.output)]
        if len(alive) == len(nodes):
            break
        nodes = alive
    read = {i for n in nodes for i in n.input}
    initializers = [t for t in graph.initializer if t.name in read]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def dequantize_convolutions(model_bytes: bytes) -> bytes | None:
    """The model with every dynamically quantised convolution turned back into a float Conv (see the module
    docstring); None when it has none."""
    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    inits = {t.name: t for t in graph.initializer}
    swaps: dict[int, onnx.NodeProto] = {}
    for ci in (n for n in graph.node if n.op_type == "ConvInteger"):
        found = _replace_conv(ci, producer, consumers, inits)
        if found is not None:
            mul, conv, weight = found
            swaps[id(mul)] = conv
            graph.initializer.append(weight)
    if not swaps:
        return None
    nodes = [swaps.get(id(n), n) for n in graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    _prune(graph)
    return model.SerializeToString()
