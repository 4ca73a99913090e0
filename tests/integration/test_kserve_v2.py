"""The KServe v2 REST protocol: Triton's own client (JSON and binary tensors) against a real server on a
thread, answers compared with onnxruntime run directly on the same model file; and every kind of bad
request answered 400/404 with the ``{"error": …}`` body KServe clients read."""

from __future__ import annotations

import gzip
import json

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from tests.apps import app_for

from visioncast.models.registry import find_model
from visioncast.server.auth.access import role_of
from visioncast.server.health import warm_up
from visioncast.server.tensors import HEADER
from visioncast.server.wsgi import HttpServer

http = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is in the 'test' extra")
from tritonclient.utils import InferenceServerException  # noqa: E402 — after the importorskip

RESNET = "resnet56-cifar10"
YOLOX = "yolox-nano"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = app_for(tmp_path_factory.mktemp("v2"))
    warm_up(app)
    return app


@pytest.fixture(scope="module")
def client(app):
    with HttpServer(app, "127.0.0.1", 0) as server:
        yield http.InferenceServerClient(server.url.split("://", 1)[1], connection_timeout=10,
                                         network_timeout=10)


def reference(model: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The model file run by onnxruntime itself, outside visioncast."""
    session = ort.InferenceSession(str(find_model(model).path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def yolox_input(data_dir) -> np.ndarray:
    """bus.jpg resized to YOLOX-nano's 416×416 NCHW float input (the model's own tensor, no letterbox)."""
    image = cv2.resize(cv2.imread(str(data_dir / "bus.jpg")), (416, 416))
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None].astype(np.float32))


def test_health_and_server_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]


def test_model_metadata_is_the_onnx_models_own_tensors(client):
    meta = client.get_model_metadata(YOLOX)
    session = ort.InferenceSession(str(find_model(YOLOX).path), providers=["CPUExecutionProvider"])
    assert [t["name"] for t in meta["inputs"]] == [i.name for i in session.get_inputs()]
    assert [t["name"] for t in meta["outputs"]] == [o.name for o in session.get_outputs()]
    assert meta["inputs"][0]["datatype"] == "FP32"
    assert meta["inputs"][0]["shape"][1:] == [3, 416, 416]
    assert meta["versions"] == ["1"]
    assert meta["platform"] == "onnxruntime_onnx"
    assert client.is_model_ready(YOLOX)
    assert client.is_model_ready(RESNET, model_version="1")


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("model", [YOLOX, RESNET])
def test_tritonclient_round_trip_equals_onnxruntime(client, data_dir, model, binary):
    meta = client.get_model_metadata(model)
    name_in, name_out = meta["inputs"][0]["name"], meta["outputs"][0]["name"]
    x = yolox_input(data_dir) if model == YOLOX else np.random.default_rng(7).random(
        (2, 3, 32, 32), dtype=np.float32)
    tensor = http.InferInput(name_in, list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    result = client.infer(model, [tensor], outputs=[http.InferRequestedOutput(name_out, binary_data=binary)],
                          request_id="r1")
    got = result.as_numpy(name_out)
    want = reference(model, {name_in: x})[0]
    assert got.dtype == want.dtype == np.float32
    assert got.shape == want.shape
    # onnxruntime's thread count changes the summation order: equal up to float32 rounding
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert result.get_response()["id"] == "r1"


def test_binary_and_json_answers_are_bit_identical_and_all_outputs_by_default(client):
    x = np.random.default_rng(1).random((1, 3, 32, 32), dtype=np.float32)
    answers = []
    for binary in (True, False):
        tensor = http.InferInput("input", [1, 3, 32, 32], "FP32")
        tensor.set_data_from_numpy(x, binary_data=binary)
        answers.append(client.infer(RESNET, [tensor], model_version="1",
                                    request_compression_algorithm="gzip" if binary else None))
    # no outputs named: tritonclient asks for every output in binary
    assert [o["name"] for o in answers[0].get_response()["outputs"]] == ["logits"]
    np.testing.assert_array_equal(answers[0].as_numpy("logits"), answers[1].as_numpy("logits"))


def test_tritonclient_sees_clear_errors(client):
    tensor = http.InferInput("input", [1, 3, 32, 32], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(InferenceServerException, match="unknown model 'nope'") as err:
        client.infer("nope", [tensor])
    assert err.value.status() == "404"
    wrong = http.InferInput("input", [1, 3, 32, 32], "FP64")
    wrong.set_data_from_numpy(np.zeros((1, 3, 32, 32), np.float64))
    with pytest.raises(InferenceServerException, match="must be FP32, got FP64") as err:
        client.infer(RESNET, [wrong])
    assert err.value.status() == "400"


def _json_body(name="input", shape=(1, 3, 32, 32), datatype="FP32", **extra):
    data = np.zeros(shape, np.float32).reshape(-1).tolist()
    return {"inputs": [{"name": name, "shape": list(shape), "datatype": datatype, "data": data}], **extra}


BAD_REQUESTS = [
    ("wrong input name", _json_body(name="x"),
     "input 'x' is not an input of the model; its inputs: ['input']"),
    ("wrong datatype", _json_body(datatype="INT32"), "must be FP32, got INT32"),
    ("wrong shape", {"inputs": [{"name": "input", "shape": [1, 3, 16, 64], "datatype": "FP32",
                                 "data": [0.0] * 3072}]}, "must have shape [-1, 3, 32, 32]"),
    ("unknown datatype", _json_body(datatype="FLOAT"), "'datatype' must be one of BOOL"),
    ("too few values", {"inputs": [{"name": "input", "shape": [1, 3, 32, 32], "datatype": "FP32",
                                    "data": [1.0, 2.0]}]}, "'data' has 2 values"),
    ("text values", {"inputs": [{"name": "input", "shape": [1, 3, 32, 32], "datatype": "FP32",
                                 "data": ["a"] * 3072}]}, "not a list of FP32 values"),
    ("no inputs", {"inputs": []}, "needs 'inputs'"),
    ("bad shape", {"inputs": [{"name": "input", "shape": "1x3", "datatype": "FP32", "data": []}]},
     "'shape' must be a list"),
    ("unknown output", _json_body(outputs=[{"name": "boxes"}]), "has outputs ['logits'], not 'boxes'"),
    ("shared memory", _json_body(outputs=[{"name": "logits", "parameters": {"shared_memory_region": "r"}}]),
     "shared memory is not supported"),
]


@pytest.mark.parametrize(("body", "message"), [c[1:] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS])
def test_bad_json_requests_answer_400(app, body, message):
    resp = app.test_client().post(f"/v2/models/{RESNET}/infer", json=body)
    assert resp.status_code == 400, resp.json
    assert message in resp.json["error"]


def _binary(header: dict, blob: bytes, length: str | None = None):
    text = json.dumps(header).encode()
    return text + blob, {HEADER: length if length is not None else str(len(text))}


def test_bad_binary_requests_answer_400(app):
    web = app.test_client()
    tensor = {"name": "input", "shape": [1, 3, 32, 32], "datatype": "FP32"}
    blob = np.zeros((1, 3, 32, 32), np.float32).tobytes()
    cases = [
        (_binary({"inputs": [{**tensor, "parameters": {"binary_data_size": 100}}]}, blob[:100]),
         "binary_data_size is 100 bytes, shape [1, 3, 32, 32] of float32 needs 12288"),
        (_binary({"inputs": [{**tensor, "parameters": {"binary_data_size": len(blob)}}]}, blob[:50]),
         "does not fit the 50 bytes left"),
        (_binary({"inputs": [{**tensor, "parameters": {"binary_data_size": len(blob)}}]}, blob + b"xx"),
         "2 bytes after the JSON header belong to no input"),
        (_binary({"inputs": [tensor]}, blob, length="many"), f"{HEADER} must be an integer"),
        (_binary({"inputs": [tensor]}, blob, length="999999"), f"{HEADER} must be between 1 and"),
        ((b"\x00\x01not json", {}), "must be JSON"),
    ]
    for (body, headers), message in cases:
        resp = web.post(f"/v2/models/{RESNET}/infer", data=body, headers=headers)
        assert resp.status_code == 400, (message, resp.json)
        assert message in resp.json["error"]
    resp = web.post(f"/v2/models/{RESNET}/infer", data=b"\x1f\x8b garbage",
                    headers={"Content-Encoding": "gzip"})
    assert resp.status_code == 400
    assert "cannot be inflated" in resp.json["error"]
    ok = web.post(f"/v2/models/{RESNET}/infer", data=gzip.compress(json.dumps(_json_body()).encode()),
                  headers={"Content-Encoding": "gzip"})
    assert ok.status_code == 200, ok.json


@pytest.mark.parametrize(("path", "message"), [
    ("/v2/models/nope", "unknown model 'nope'"),
    ("/v2/models/nope/ready", "unknown model 'nope'"),
    (f"/v2/models/{RESNET}/versions/2", "has only version 1, not '2'"),
    (f"/v2/models/{RESNET}/versions/3/ready", "has only version 1"),
])
def test_unknown_models_and_versions_answer_404(app, path, message):
    resp = app.test_client().get(path)
    assert resp.status_code == 404
    assert message in resp.json["error"]


def test_an_unknown_v2_route_answers_json(app):
    resp = app.test_client().get("/v2/nothing/here")
    assert resp.status_code == 404
    assert resp.is_json
    assert "error" in resp.json


def test_every_v2_route_states_its_role(app):
    roles = {rule.rule: role_of(app.view_functions[rule.endpoint])
             for rule in app.url_map.iter_rules() if rule.rule.startswith("/v2")}
    assert len(roles) == 9
    assert {r: v for r, v in roles.items() if v is None} == {}
    assert roles["/v2/health/live"] == roles["/v2/health/ready"] == "open"
    assert roles["/v2/models/<name>/infer"] == "student"


def test_readiness_is_false_before_the_models_load(tmp_path):
    cold = app_for(tmp_path)
    resp = cold.test_client().get("/v2/health/ready")
    assert resp.status_code == 503
    assert resp.json == {"ready": False}
