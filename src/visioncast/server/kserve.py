"""The KServe v2 REST protocol (Open Inference Protocol) on every server, with or without Ray. I/O: request
bodies, model loading through :class:`~visioncast.server.services.Services`.

Routes (each also under ``/v2/models/<name>/versions/1/…``, the only version a registry model has)::

    GET  /v2                          server metadata (name, version, extensions)
    GET  /v2/health/live              200 while the process answers
    GET  /v2/health/ready             200 once the default models are loaded (as /readyz), else 503
    GET  /v2/models/<name>            model metadata: platform, inputs and outputs (name, datatype, shape)
    GET  /v2/models/<name>/ready      200 when the model is loaded (loaded on first ask), else 503
    POST /v2/models/<name>/infer      model-level tensors in, model-level tensors out

Model names are the registry's (``GET /api/v1/models``); the tensors are the ONNX model's own inputs and
outputs (``Runtime.inputs`` / ``outputs``), so ``tritonclient.http`` and KServe clients work unchanged. The
wire format (JSON tensors, the binary tensor extension) is :mod:`visioncast.server.tensors`. Errors answer
``{"error": "<message>"}`` — what those clients read — with 400 (bad request), 404 (unknown model or
version), 413 (body too large), 503 (the model cannot be loaded or run).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from visioncast import __version__
from visioncast.errors import InputError, NotFoundError, TooLargeError, VisioncastError
from visioncast.models.registry import ModelInfo, list_models
from visioncast.runtimes.base import Runtime
from visioncast.server import health
from visioncast.server.auth.access import access
from visioncast.server.errors import status_of
from visioncast.server.openapi import Schema, document, response
from visioncast.server.services import services
from visioncast.server.tensors import (
    HEADER,
    TensorLimits,
    check_feeds,
    encode_infer_response,
    parse_infer_request,
    select_outputs,
    tensor_metadata,
)

bp = Blueprint("kserve", __name__, url_prefix="/v2")
VERSION = "1"
PLATFORMS = {"onnxruntime": "onnxruntime_onnx", "openvino": "openvino_ir"}

V2_ERROR = Schema("V2Error", {"type": "object", "required": ["error"],
                              "properties": {"error": {"type": "string"}}})
_TENSOR_META = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
    "name": {"type": "string"}, "datatype": {"type": "string", "examples": ["FP32", "UINT8"]},
    "shape": {"type": "array", "items": {"type": "integer"}, "description": "-1: any size"}}}
MODEL_META = Schema("V2ModelMetadata", {
    "type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"],
    "properties": {"name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}},
                   "platform": {"type": "string"}, "inputs": {"type": "array", "items": _TENSOR_META},
                   "outputs": {"type": "array", "items": _TENSOR_META}},
})
_TENSOR = {"type": "object", "required": ["name", "shape", "datatype"], "properties": {
    "name": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}},
    "datatype": {"type": "string"}, "parameters": {"type": "object", "properties": {
        "binary_data_size": {"type": "integer", "description": "bytes of this tensor after the JSON header"},
        "binary_data": {"type": "boolean", "description": "(outputs) answer this output in binary"}}},
    "data": {"type": "array", "description": "the values, row-major, flat or nested"}}}
INFER_REQUEST = Schema("V2InferRequest", {
    "type": "object", "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "inputs": {"type": "array", "items": _TENSOR},
        "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "parameters": {"type": "object"}}}},
        "parameters": {"type": "object", "properties": {"binary_data_output": {"type": "boolean"}}},
    },
})
INFER_RESPONSE = Schema("V2InferResponse", {
    "type": "object", "required": ["model_name", "outputs"],
    "properties": {"model_name": {"type": "string"}, "model_version": {"type": "string"},
                   "id": {"type": "string"}, "outputs": {"type": "array", "items": _TENSOR}},
})
_BINARY = {"type": "string", "format": "binary",
           "description": f"a JSON header of {HEADER} bytes, then the binary tensors in order"}
_V2_ERRORS = {404: response("unknown model or version", V2_ERROR),
              503: response("the model cannot be loaded or run", V2_ERROR)}


def _known(name: str) -> ModelInfo:
    cfg = services().config.models
    known = {info.name: info for info in list_models(Path(cfg.cache_dir))}
    if name not in known:
        raise NotFoundError(f"unknown model {name!r}: expected one of {', '.join(sorted(known))}")
    return known[name]


def _runtime(name: str, version: str | None) -> Runtime:
    """The runtime of registry model ``name`` on the file's own tensors (loaded on first use; shared with
    /api/v1 unless the task's graph takes folded uint8 images)."""
    info = _known(name)
    if version not in (None, VERSION):
        raise NotFoundError(f"model {name!r} has only version {VERSION}, not {version!r}")
    return services().own_runtime(info.task or "detect", name)


@bp.errorhandler(VisioncastError)
def _visioncast_error(exc: VisioncastError) -> tuple[Response, int]:
    status = status_of(exc)
    if status >= 500:
        current_app.logger.error("%s %s failed: %s", request.method, request.path, exc)
    return jsonify(error=str(exc)), status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[Response, int]:
    return jsonify(error=exc.description or exc.name), exc.code or 500


@bp.get("")
@document("KServe v2 server metadata", tags=["kserve-v2"], responses={200: response(
    "name, version, extensions", {"type": "object", "properties": {
        "name": {"type": "string"}, "version": {"type": "string"},
        "extensions": {"type": "array", "items": {"type": "string"}}}})})
@access("open")
def server_metadata() -> Any:
    return jsonify(name="visioncast", version=__version__, extensions=["binary_tensor_data"])


@bp.get("/health/live")
@document("KServe v2 liveness", tags=["kserve-v2"], responses={200: response("alive", {
    "type": "object", "properties": {"live": {"const": True}}})})
@access("open")
def live() -> Any:
    return jsonify(live=True)


@bp.get("/health/ready")
@document("KServe v2 readiness: the default models are loaded", tags=["kserve-v2"], responses={
    200: response("ready", {"type": "object", "properties": {"ready": {"type": "boolean"}}}),
    503: response("still loading", {"type": "object", "properties": {"ready": {"type": "boolean"}}})})
@access("open")
def ready() -> Any:
    is_ready = current_app.extensions.get(health.EXTENSION) is not None
    return jsonify(ready=is_ready), 200 if is_ready else 503


@document("KServe v2 model metadata: the model's own input and output tensors", tags=["kserve-v2"],
          responses={200: response("the model's tensors", MODEL_META), **_V2_ERRORS})
@access("student")
def model_metadata(name: str, version: str | None = None) -> Any:
    runtime = _runtime(name, version)
    return jsonify(name=name, versions=[VERSION], platform=PLATFORMS.get(runtime.engine, runtime.engine),
                   inputs=[tensor_metadata(s) for s in runtime.inputs],
                   outputs=[tensor_metadata(s) for s in runtime.outputs])


@document("KServe v2 model readiness (loads the model on first ask)", tags=["kserve-v2"],
          responses={200: response("the model is loaded", {"type": "object", "properties": {
              "name": {"type": "string"}, "ready": {"const": True}}}), **_V2_ERRORS})
@access("student")
def model_ready(name: str, version: str | None = None) -> Any:
    _runtime(name, version)
    return jsonify(name=name, ready=True)


def _body() -> bytes:
    """The request body, inflated when the client compressed it (tritonclient's gzip/deflate option)."""
    body = request.get_data(cache=False)
    encoding = request.headers.get("Content-Encoding", "").lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise InputError(f"Content-Encoding must be gzip or deflate, got {encoding!r}")
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit or 0)
    except zlib.error as exc:
        raise InputError(f"the {encoding} body cannot be inflated: {exc}") from None
    if limit and inflater.unconsumed_tail:
        raise TooLargeError(f"the inflated body is larger than the limit of {limit / 1024 / 1024:.0f} MB")
    return data


@document("KServe v2 inference on the model's own tensors (JSON or binary tensor extension)",
          tags=["kserve-v2"], parameters=[{
              "name": HEADER, "in": "header", "required": False, "schema": {"type": "integer"},
              "description": "length of the JSON header when binary tensors follow it"}],
          request_body={"required": True, "content": {"application/json": {"schema": INFER_REQUEST},
                                                      "application/octet-stream": {"schema": _BINARY}}},
          responses={200: {"description": "the outputs (binary ones after the JSON header, whose length "
                                          f"is in the {HEADER} response header)",
                           "content": {"application/json": {"schema": INFER_RESPONSE},
                                       "application/octet-stream": {"schema": _BINARY}}},
                     400: response("malformed request, or wrong input name, datatype or shape", V2_ERROR),
                     413: response("body over server.max_body_mb, tensors over server.max_tensor_mb",
                                   V2_ERROR), **_V2_ERRORS})
@access("student")
def infer(name: str, version: str | None = None) -> Any:
    runtime = _runtime(name, version)
    cfg = services().config.server
    limits = TensorLimits(int(cfg.max_tensor_mb * 1024 * 1024), cfg.max_tensor_side, cfg.max_json_depth)
    req = parse_infer_request(_body(), request.headers.get(HEADER), runtime.inputs, limits)
    check_feeds(name, req.feeds, runtime.inputs)
    chosen = select_outputs(name, req, runtime.outputs)
    arrays = runtime.run(req.feeds)
    header: dict[str, Any] = {"model_name": name, "model_version": VERSION}
    if req.id is not None:
        header["id"] = req.id
    body, json_size = encode_infer_response(
        header, [(runtime.outputs[i].name, arrays[i], binary) for i, binary in chosen])
    if json_size is None:
        return Response(body, mimetype="application/json")
    return Response(body, mimetype="application/octet-stream", headers={HEADER: str(json_size)})


for _suffix, _view in (("", model_metadata), ("/ready", model_ready), ("/infer", infer)):
    _methods = ["POST"] if _view is infer else ["GET"]
    bp.add_url_rule(f"/models/<name>{_suffix}", _view.__name__, _view, methods=_methods)
    bp.add_url_rule(f"/models/<name>/versions/<version>{_suffix}", f"{_view.__name__}_version", _view,
                    methods=_methods)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
