"""/openapi.json: a valid OpenAPI 3.1 document generated from the routes, documenting every route."""

from __future__ import annotations

import pytest
from flask import Flask
from tests.apps import app_for

from visioncast.core.payload import RESULT_SCHEMA
from visioncast.server.openapi import Schema, build_spec, document, query, response

validator = pytest.importorskip("openapi_spec_validator")


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    app = app_for(tmp_path_factory.mktemp("oa"))
    resp = app.test_client().get("/openapi.json")
    assert resp.status_code == 200
    return app, resp.json


def test_the_document_is_valid_openapi(spec):
    _, doc = spec
    validator.validate(doc)
    assert doc["openapi"].startswith("3.1")


def test_every_route_of_the_app_is_documented(spec):
    """Walks app.url_map: a route added by any feature without @document makes this fail."""
    app, doc = spec
    undocumented = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<path:", "<").replace("<int:", "<").replace("<", "{").replace(">", "}")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            operation = doc["paths"].get(path, {}).get(method.lower())
            if operation is None or operation.get("x-undocumented"):
                undocumented.append(f"{method} {rule.rule} ({rule.endpoint})")
            elif not operation.get("summary") or not operation.get("responses"):
                undocumented.append(f"{method} {rule.rule}: no summary or responses")
    assert undocumented == []


def test_the_api_routes_and_result_schema_are_there(spec):
    _, doc = spec
    for path in ("/api/v1/detect", "/api/v1/classify", "/api/v1/models", "/healthz", "/readyz", "/metrics",
                 "/openapi.json", "/results/{name}"):
        assert path in doc["paths"], path
    result = doc["components"]["schemas"]["Result"]
    assert result["properties"] == RESULT_SCHEMA["properties"]
    ok = doc["paths"]["/api/v1/detect"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Result"}
    names = {p["name"] for p in doc["paths"]["/api/v1/detect"]["post"]["parameters"]}
    assert {"conf", "iou", "classes", "model", "render", "source"} <= names
    assert "top" in {p["name"] for p in doc["paths"]["/api/v1/classify"]["post"]["parameters"]}
    bodies = doc["paths"]["/api/v1/detect"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json", "image/*"} <= set(bodies)
    assert doc["paths"]["/results/{name}"]["get"]["parameters"][0]["in"] == "path"


def test_a_new_feature_documents_itself_with_the_registry():
    app = Flask("feature")
    job = Schema("Job", {"type": "object", "properties": {"id": {"type": "integer"}}})

    @app.route("/api/v1/jobs/<int:job_id>", methods=["GET", "DELETE"])
    @document("A job", tags=["video"], parameters=[query("wait", {"type": "boolean"}, "wait for it")],
              responses={200: response("the job", job)})
    def job_view(job_id: int) -> str:
        return ""

    @app.get("/forgotten")
    def forgotten() -> str:
        """Nobody documented me."""
        return ""

    doc = build_spec(app)
    validator.validate(doc)
    ops = doc["paths"]["/api/v1/jobs/{job_id}"]
    assert set(ops) == {"get", "delete"}
    assert ops["get"]["operationId"] == "job_view_get"
    assert ops["get"]["parameters"][0] == {"name": "job_id", "in": "path", "required": True,
                                           "schema": {"type": "integer"}}
    assert doc["components"]["schemas"]["Job"] == job.schema
    assert doc["paths"]["/forgotten"]["get"]["x-undocumented"] is True
    assert doc["paths"]["/forgotten"]["get"]["summary"] == "Nobody documented me."


def test_two_different_schemas_with_one_name_are_refused():
    app = Flask("clash")
    first, second = Schema("X", {"type": "string"}), Schema("X", {"type": "integer"})
    app.add_url_rule("/a", "a", document("a", responses={200: response("a", first)})(lambda: ""))
    app.add_url_rule("/b", "b", document("b", responses={200: response("b", second)})(lambda: ""))
    with pytest.raises(ValueError, match="'X'"):
        build_spec(app)


def test_a_schema_used_only_through_its_ref_is_defined():
    app = Flask("refs")
    inner = Schema("RefOnlyInner", {"type": "string"})
    outer = Schema("RefOnlyOuter", {"type": "object", "properties": {"inner": inner.ref}})
    app.add_url_rule("/x", "x", document("x", responses={200: response("x", outer.ref)})(lambda: ""))
    doc = build_spec(app)
    validator.validate(doc)
    assert doc["components"]["schemas"]["RefOnlyInner"] == {"type": "string"}
    app.add_url_rule("/y", "y", document("y", responses={200: response("y", {
        "$ref": "#/components/schemas/NeverMade"})})(lambda: ""))
    with pytest.raises(ValueError, match="'NeverMade' is referenced but never defined"):
        build_spec(app)
