"""Convert MediaPipe's selfie segmentation TFLite model to ONNX (run once, in a throwaway venv).

The model (mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite in the mediapipe 0.10.14 wheel on
PyPI, Apache-2.0) uses eleven TFLite operators, one of them MediaPipe's custom ``Convolution2DTransposeBias``
that neither tf2onnx nor tflite2onnx knows, so this script maps each operator to its ONNX twin itself:
NHWC tensors become NCHW inside the graph, fp16 weights (DEQUANTIZE of constants) are widened to float32 at
conversion time. The ONNX graph keeps the TFLite interface: input [1, 256, 256, 3] RGB in [0, 1], output
[1, 256, 256, 1] person probability.

    python -m venv /tmp/venv && /tmp/venv/bin/pip install tflite onnx numpy
    /tmp/venv/bin/python tools/tflite_to_onnx.py selfie_segmentation.tflite selfie_segmentation.onnx

Checked against MediaPipe's own runtime by tools/check_selfie_onnx.py.
"""

from __future__ import annotations

import struct
import sys

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

OPS = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
DTYPES = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
          tflite.TensorType.INT32: np.int32}
ACTIVATIONS = {0: None, 1: "Relu", 3: "Relu6"}


class Converter:
    def __init__(self, model: tflite.Model) -> None:
        self.model = model
        self.graph = model.Subgraphs(0)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}
        self.consts: dict[int, np.ndarray] = {}
        self.counter = 0

    def tensor(self, index: int) -> tflite.Tensor:
        return self.graph.Tensors(index)

    def name(self, index: int) -> str:
        return f"t{index}"

    def const(self, index: int) -> np.ndarray | None:
        if index in self.consts:
            return self.consts[index]
        t = self.tensor(index)
        data = self.model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return None
        return np.frombuffer(data.tobytes(), DTYPES[t.Type()]).reshape(t.ShapeAsNumpy())

    def add_init(self, array: np.ndarray, hint: str) -> str:
        self.counter += 1
        name = f"{hint}_{self.counter}"
        self.inits[name] = array
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: object) -> None:
        self.nodes.append(helper.make_node(op, inputs, [output], **attrs))

    def activate(self, out: str, fused: int) -> None:
        act = ACTIVATIONS[fused]
        if act is None:
            return
        pre = out + "_pre"
        self.nodes[-1].output[0] = pre
        if act == "Relu6":
            bounds = [self.add_init(np.float32(0), "lo"), self.add_init(np.float32(6), "hi")]
            self.node("Clip", [pre, *bounds], out)
        else:
            self.node(act, [pre], out)

    def same_pads(self, in_hw: list[int], out_hw: list[int], kernel: list[int], stride: list[int],
                  padding: int) -> list[int]:
        if padding != tflite.Padding.SAME:
            return [0, 0, 0, 0]
        sizes = zip(in_hw, out_hw, kernel, stride, strict=True)
        total = [max((o - 1) * s + k - i, 0) for i, o, k, s in sizes]
        return [total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2]

    def convert_op(self, op: tflite.Operator) -> None:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        kind = OPS.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()))
        ins, outs = list(op.InputsAsNumpy()), list(op.OutputsAsNumpy())
        out = self.name(outs[0])
        if kind == "DEQUANTIZE":
            self.consts[outs[0]] = self.const(ins[0]).astype(np.float32)
        elif kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            self.conv(kind, op, ins, outs)
        elif kind == "CUSTOM":
            self.transpose_conv(op, ins, outs)
        elif kind in ("ADD", "MUL"):
            opts = tflite.AddOptions() if kind == "ADD" else tflite.MulOptions()
            opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
            self.node(kind.title(), [self.operand(i) for i in ins[:2]], out)
            self.activate(out, opts.FusedActivationFunction())
        elif kind in ("RELU", "LOGISTIC", "HARD_SWISH"):
            onnx_op = {"RELU": "Relu", "LOGISTIC": "Sigmoid", "HARD_SWISH": "HardSwish"}[kind]
            self.node(onnx_op, [self.name(ins[0])], out)
        elif kind == "AVERAGE_POOL_2D":
            self.pool(op, ins, outs)
        elif kind == "RESIZE_BILINEAR":
            self.resize(op, ins, outs)
        else:
            raise SystemExit(f"operator {kind} ({code.CustomCode()}) is not mapped")

    def operand(self, index: int) -> str:
        value = self.const(index)
        if value is None:
            return self.name(index)
        if value.ndim == 4:
            value = value.transpose(0, 3, 1, 2)
        elif value.ndim == 1 and value.size > 1:
            value = value.reshape(1, -1, 1, 1)
        return self.add_init(value.astype(np.float32), "c")

    def conv(self, kind: str, op: tflite.Operator, ins: list[int], outs: list[int]) -> None:
        depthwise = kind == "DEPTHWISE_CONV_2D"
        opts = tflite.DepthwiseConv2DOptions() if depthwise else tflite.Conv2DOptions()
        opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
        weight = self.const(ins[1]).astype(np.float32)
        bias = self.const(ins[2]).astype(np.float32)
        # depthwise [1, H, W, C] -> [C, 1, H, W]; else [O, H, W, I] -> [O, I, H, W]
        weight = weight.transpose(3, 0, 1, 2) if depthwise else weight.transpose(0, 3, 1, 2)
        in_shape = self.tensor(ins[0]).ShapeAsNumpy().tolist()
        out_shape = self.tensor(outs[0]).ShapeAsNumpy().tolist()
        stride = [opts.StrideH(), opts.StrideW()]
        dilation = [opts.DilationHFactor(), opts.DilationWFactor()]
        kernel = [(k - 1) * d + 1 for k, d in zip(weight.shape[2:], dilation, strict=True)]
        pads = self.same_pads(in_shape[1:3], out_shape[1:3], kernel, stride, opts.Padding())
        out = self.name(outs[0])
        self.node("Conv", [self.name(ins[0]), self.add_init(weight, "w"), self.add_init(bias, "b")], out,
                  strides=stride, dilations=dilation, pads=pads, group=in_shape[3] if depthwise else 1)
        self.activate(out, opts.FusedActivationFunction())

    def transpose_conv(self, op: tflite.Operator, ins: list[int], outs: list[int]) -> None:
        code = self.model.OperatorCodes(op.OpcodeIndex()).CustomCode()
        if code != b"Convolution2DTransposeBias":
            raise SystemExit(f"custom operator {code!r} is not mapped")
        padding, stride_w, stride_h = struct.unpack("<3i", op.CustomOptionsAsNumpy().tobytes())
        weight = self.const(ins[1]).astype(np.float32).transpose(3, 0, 1, 2)  # [O,H,W,I] -> [I,O,H,W]
        bias = self.const(ins[2]).astype(np.float32)
        in_shape = self.tensor(ins[0]).ShapeAsNumpy().tolist()
        out_shape = self.tensor(outs[0]).ShapeAsNumpy().tolist()
        stride = [stride_h, stride_w]
        pads = self.same_pads(out_shape[1:3], in_shape[1:3], list(weight.shape[2:]), stride, padding)
        self.node("ConvTranspose", [self.name(ins[0]), self.add_init(weight, "w"), self.add_init(bias, "b")],
                  self.name(outs[0]), strides=stride, pads=pads)

    def pool(self, op: tflite.Operator, ins: list[int], outs: list[int]) -> None:
        opts = tflite.Pool2DOptions()
        opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
        in_shape = self.tensor(ins[0]).ShapeAsNumpy().tolist()
        out_shape = self.tensor(outs[0]).ShapeAsNumpy().tolist()
        kernel, stride = [opts.FilterHeight(), opts.FilterWidth()], [opts.StrideH(), opts.StrideW()]
        pads = self.same_pads(in_shape[1:3], out_shape[1:3], kernel, stride, opts.Padding())
        out = self.name(outs[0])
        self.node("AveragePool", [self.name(ins[0])], out, kernel_shape=kernel, strides=stride, pads=pads)
        self.activate(out, opts.FusedActivationFunction())

    def resize(self, op: tflite.Operator, ins: list[int], outs: list[int]) -> None:
        opts = tflite.ResizeBilinearOptions()
        opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
        mode = ("align_corners" if opts.AlignCorners() else
                "half_pixel" if opts.HalfPixelCenters() else "asymmetric")
        out_shape = self.tensor(outs[0]).ShapeAsNumpy().tolist()
        sizes = np.array([1, out_shape[3], out_shape[1], out_shape[2]], np.int64)
        self.node("Resize", [self.name(ins[0]), "", "", self.add_init(sizes, "sizes")], self.name(outs[0]),
                  mode="linear", coordinate_transformation_mode=mode)

    def build(self) -> onnx.ModelProto:
        g = self.graph
        inp, out = g.Inputs(0), g.Outputs(0)
        in_shape = self.tensor(inp).ShapeAsNumpy().tolist()
        out_shape = self.tensor(out).ShapeAsNumpy().tolist()
        self.node("Transpose", ["input"], self.name(inp), perm=[0, 3, 1, 2])
        for i in range(g.OperatorsLength()):
            self.convert_op(g.Operators(i))
        self.node("Transpose", [self.name(out)], "output", perm=[0, 2, 3, 1])
        graph = helper.make_graph(
            self.nodes, "selfie_segmentation",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)],
            [numpy_helper.from_array(v, k) for k, v in self.inits.items()])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                  producer_name="visioncast tools/tflite_to_onnx.py")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def main(argv: list[str]) -> None:
    source, target = argv[1], argv[2]
    with open(source, "rb") as file:
        buf = file.read()
    model = Converter(tflite.Model.GetRootAsModel(buf, 0)).build()
    model.metadata_props.add(key="task", value="segment")
    model.metadata_props.add(key="names", value="{0: 'background', 1: 'person'}")
    model.metadata_props.add(key="source", value="MediaPipe selfie_segmentation.tflite (mediapipe 0.10.14, "
                             "Apache-2.0), converted by visioncast tools/tflite_to_onnx.py")
    onnx.save(model, target)


if __name__ == "__main__":
    main(sys.argv)
