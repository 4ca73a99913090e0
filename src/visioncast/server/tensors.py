"""The KServe v2 (Open Inference Protocol) tensor wire format: JSON tensors and Triton's binary tensor
extension, parsed into model feeds and encoded from model outputs. Pure (numpy and json), no I/O.

A request body is either all JSON, or a JSON header of ``Inference-Header-Content-Length`` bytes followed by
the raw little-endian bytes of every input whose ``parameters.binary_data_size`` says so, in input order —
exactly what ``tritonclient.http`` sends. An output is answered in binary when its request entry has
``parameters.binary_data: true``, or the request's ``parameters.binary_data_output`` is true and the output
does not say otherwise; the answer then is a JSON header followed by those outputs' bytes, and its length is
returned so the view can set the same header. Every malformed request raises :class:`InputError` with the
field, what was expected and what came.

Nothing is allocated for a tensor before it is checked against the model's input (:class:`TensorLimits`):
its name, datatype and fixed axes; each free axis at most ``max_side``; all the inputs together at most
``max_bytes`` in the model's datatypes (413). The JSON header is parsed only when it is nested at most
``max_depth`` deep and holds no more values than ``max_bytes`` allows (413), so a JSON batch cannot cost
more than a few times its bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from visioncast.core.jsontext import check_json
from visioncast.errors import InputError, TooLargeError
from visioncast.runtimes.base import TensorSpec

HEADER = "Inference-Header-Content-Length"
V2_TO_NUMPY = {
    "BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
    "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
    "FP16": "float16", "FP32": "float32", "FP64": "float64",
}
NUMPY_TO_V2 = {v: k for k, v in V2_TO_NUMPY.items()}


@dataclass(frozen=True)
class TensorLimits:
    """What one infer request may carry: ``max_bytes`` of input tensors in all (server.max_tensor_mb), each
    free axis at most ``max_side`` (server.max_tensor_side), JSON at most ``max_depth`` deep."""

    max_bytes: int = 8 * 1024 * 1024
    max_side: int = 4096
    max_depth: int = 32


@dataclass(frozen=True)
class RequestedOutput:
    """An output the client asked for; ``binary``: answer its bytes after the JSON header."""

    name: str
    binary: bool


@dataclass(frozen=True)
class InferRequest:
    """A parsed infer request: ``feeds`` (input name → array) and the outputs asked for (empty = all)."""

    id: str | None
    feeds: dict[str, np.ndarray]
    outputs: tuple[RequestedOutput, ...]
    binary_output: bool


def v2_datatype(dtype: str) -> str:
    """numpy dtype name → v2 datatype ("float32" → "FP32"); unknown names pass through upper-cased."""
    return NUMPY_TO_V2.get(dtype, dtype.upper())


def tensor_metadata(spec: TensorSpec) -> dict[str, Any]:
    """A model input or output as v2 metadata: name, datatype, shape (-1 for a dynamic axis)."""
    shape = [d if isinstance(d, int) and d > 0 else -1 for d in spec.shape]
    return {"name": spec.name, "datatype": v2_datatype(spec.dtype), "shape": shape}


def _header_and_rest(body: bytes, header_length: str | None, *, max_values: int,
                     limits: TensorLimits) -> tuple[dict[str, Any], memoryview]:
    """Split ``body`` into its JSON header (checked before it is parsed) and the binary remainder."""
    size = len(body)
    if header_length is not None:
        try:
            size = int(header_length)
        except ValueError:
            raise InputError(f"{HEADER} must be an integer, got {header_length!r}") from None
        if not 0 < size <= len(body):
            raise InputError(f"{HEADER} must be between 1 and the body's {len(body)} bytes, got {size}")
    text = bytes(body[:size])
    if text.count(b",") > max_values + 1024:
        raise TooLargeError(f"the JSON tensors hold more than the {max_values} values the model's inputs "
                            "may have in all (server.max_tensor_mb)", code="tensor_too_large")
    raw = check_json(text, max_bytes=len(text), max_depth=limits.max_depth, what="inference request")
    try:
        header = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise InputError("the inference request nests too deep to read", code="json_too_deep") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"the inference request must be JSON: {exc}") from None
    if not isinstance(header, dict):
        raise InputError(f"the inference request must be a JSON object, got {type(header).__name__}")
    return header, memoryview(body)[size:]


def _shape_of(entry: Mapping[str, Any], where: str) -> tuple[int, ...]:
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InputError(f"{where}: 'shape' must be a list of non-negative integers, got {shape!r}")
    return tuple(shape)


def _dtype_of(entry: Mapping[str, Any], where: str) -> np.dtype[Any]:
    name = entry.get("datatype")
    if name not in V2_TO_NUMPY:
        raise InputError(f"{where}: 'datatype' must be one of {', '.join(V2_TO_NUMPY)}, got {name!r}")
    return np.dtype(V2_TO_NUMPY[name]).newbyteorder("<")


def _json_tensor(entry: Mapping[str, Any], where: str, shape: tuple[int, ...],
                 dtype: np.dtype[Any]) -> np.ndarray:
    if "data" not in entry:
        raise InputError(f"{where}: needs 'data' or parameters.binary_data_size")
    try:
        flat = np.asarray(entry["data"], dtype=dtype).reshape(-1)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError(f"{where}: 'data' is not a list of {entry['datatype']} values: {exc}") from None
    if flat.size != math.prod(shape):
        raise InputError(f"{where}: 'data' has {flat.size} values, shape {list(shape)} needs "
                         f"{math.prod(shape)}")
    return flat.reshape(shape)


def _binary_tensor(chunk: memoryview, where: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray:
    expected = math.prod(shape) * dtype.itemsize
    if len(chunk) != expected:
        raise InputError(f"{where}: binary_data_size is {len(chunk)} bytes, shape {list(shape)} of "
                         f"{dtype.name} needs {expected}")
    return np.frombuffer(chunk, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def _check_entry(spec: TensorSpec, shape: tuple[int, ...], dtype: np.dtype[Any], where: str,
                 limits: TensorLimits) -> int:
    """InputError unless ``shape``/``dtype`` fit the model's input ``spec``; the tensor's size in bytes."""
    if dtype.name != spec.dtype:
        raise InputError(f"{where} must be {v2_datatype(spec.dtype)}, got {v2_datatype(dtype.name)}")
    want = tensor_metadata(spec)["shape"]
    if len(want) != len(shape) or any(w not in (-1, d) for w, d in zip(want, shape, strict=True)):
        raise InputError(f"{where} must have shape {want} (-1: any), got {list(shape)}")
    free = [d for w, d in zip(want, shape, strict=True) if w == -1 and d > limits.max_side]
    if free:
        raise InputError(f"{where}: a free axis of {free[0]} is over the limit of {limits.max_side} "
                         "(server.max_tensor_side)", code="tensor_too_large")
    return math.prod(shape) * dtype.itemsize


def _inputs(entries: Any, rest: memoryview, specs: Mapping[str, TensorSpec],
            limits: TensorLimits) -> dict[str, np.ndarray]:
    if not isinstance(entries, list) or not entries:
        raise InputError("the inference request needs 'inputs': a non-empty list of tensors")
    feeds: dict[str, np.ndarray] = {}
    offset = total = 0
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InputError(f"inputs[{i}] must be an object with a 'name', got {entry!r}"[:200])
        where = f"input {entry['name']!r}"
        if entry["name"] in feeds:
            raise InputError(f"{where} is given twice")
        if entry["name"] not in specs:
            raise InputError(f"{where} is not an input of the model; its inputs: {list(specs)}")
        shape, dtype = _shape_of(entry, where), _dtype_of(entry, where)
        total += _check_entry(specs[entry["name"]], shape, dtype, where, limits)
        if total > limits.max_bytes:
            raise TooLargeError(f"the input tensors are over the limit of {limits.max_bytes} bytes "
                                "(server.max_tensor_mb)", code="tensor_too_large")
        params = entry.get("parameters") or {}
        if "shared_memory_region" in params:
            raise InputError(f"{where}: shared memory is not supported; send the tensor in the body")
        size = params.get("binary_data_size")
        if size is None:
            feeds[entry["name"]] = _json_tensor(entry, where, shape, dtype)
            continue
        if not isinstance(size, int) or size < 0 or offset + size > len(rest):
            raise InputError(f"{where}: binary_data_size {size!r} does not fit the {len(rest) - offset} "
                             "bytes left after the JSON header")
        feeds[entry["name"]] = _binary_tensor(rest[offset:offset + size], where, shape, dtype)
        offset += size
    if offset != len(rest):
        raise InputError(f"{len(rest) - offset} bytes after the JSON header belong to no input "
                         "(binary_data_size too small or missing)")
    return feeds


def _outputs(entries: Any, binary_output: bool) -> tuple[RequestedOutput, ...]:
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise InputError(f"'outputs' must be a list, got {type(entries).__name__}")
    asked: list[RequestedOutput] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InputError(f"outputs[{i}] must be an object with a 'name'")
        params = entry.get("parameters") or {}
        if "shared_memory_region" in params:
            raise InputError(f"output {entry['name']!r}: shared memory is not supported")
        asked.append(RequestedOutput(entry["name"], bool(params.get("binary_data", binary_output))))
    return tuple(asked)


def parse_infer_request(body: bytes, header_length: str | None, inputs: Sequence[TensorSpec],
                        limits: TensorLimits | None = None) -> InferRequest:
    """A request body (and its ``Inference-Header-Content-Length``, if any) for a model with ``inputs`` →
    :class:`InferRequest`; every tensor checked against its input before it is made."""
    limits = limits or TensorLimits()
    smallest = min((np.dtype(s.dtype).itemsize for s in inputs if s.dtype in NUMPY_TO_V2), default=1)
    header, rest = _header_and_rest(body, header_length, max_values=limits.max_bytes // smallest,
                                    limits=limits)
    params = header.get("parameters") or {}
    if not isinstance(params, dict):
        raise InputError(f"'parameters' must be an object, got {type(params).__name__}")
    binary_output = bool(params.get("binary_data_output", False))
    request_id = header.get("id")
    return InferRequest(
        id=None if request_id is None else str(request_id),
        feeds=_inputs(header.get("inputs"), rest, {spec.name: spec for spec in inputs}, limits),
        outputs=_outputs(header.get("outputs"), binary_output),
        binary_output=binary_output,
    )


def check_feeds(model: str, feeds: Mapping[str, np.ndarray], inputs: Sequence[TensorSpec]) -> None:
    """InputError unless ``feeds`` are exactly the model's inputs, with their datatypes and fixed axes."""
    names = [spec.name for spec in inputs]
    unknown = sorted(set(feeds) - set(names))
    missing = [n for n in names if n not in feeds]
    if unknown or missing:
        raise InputError(f"model {model!r} takes inputs {names}; unknown {unknown}, missing {missing}")
    for spec in inputs:
        array = feeds[spec.name]
        if array.dtype.name != spec.dtype:
            raise InputError(f"input {spec.name!r} of model {model!r} must be {v2_datatype(spec.dtype)}, "
                             f"got {v2_datatype(array.dtype.name)}")
        want = tensor_metadata(spec)["shape"]
        if len(want) != array.ndim or any(w not in (-1, d) for w, d in zip(want, array.shape, strict=True)):
            raise InputError(f"input {spec.name!r} of model {model!r} must have shape {want} (-1: any), "
                             f"got {list(array.shape)}")


def select_outputs(model: str, request: InferRequest,
                   outputs: Sequence[TensorSpec]) -> list[tuple[int, bool]]:
    """(index into the model's outputs, answer in binary) for every output to answer, in answer order."""
    names = [spec.name for spec in outputs]
    if not request.outputs:
        return [(i, request.binary_output) for i in range(len(names))]
    chosen = []
    for asked in request.outputs:
        if asked.name not in names:
            raise InputError(f"model {model!r} has outputs {names}, not {asked.name!r}")
        chosen.append((names.index(asked.name), asked.binary))
    return chosen


def encode_infer_response(header: dict[str, Any],
                          outputs: Sequence[tuple[str, np.ndarray, bool]]) -> tuple[bytes, int | None]:
    """``header`` (model_name, model_version, id) plus ``outputs`` (name, array, binary) → the response body
    and, when any output is binary, the JSON header's length for ``Inference-Header-Content-Length``."""
    tensors: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array, binary in outputs:
        entry: dict[str, Any] = {"name": name, "datatype": v2_datatype(array.dtype.name),
                                 "shape": list(array.shape)}
        if binary:
            blob = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = array.reshape(-1).tolist()
        tensors.append(entry)
    text = json.dumps({**header, "outputs": tensors}, separators=(",", ":")).encode("utf-8")
    if not blobs:
        return text, None
    return b"".join([text, *blobs]), len(text)
