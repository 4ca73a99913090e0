"""The OpenAPI 3.1 document of the app, generated from the routes themselves. No I/O.

Why a small registry rather than apispec or flasgger: our payload schemas already are JSON Schema (draft
2020-12, e.g. ``RESULT_SCHEMA``), which OpenAPI 3.1 embeds as is, so no marshmallow models or YAML docstrings
are needed; and the paths, path parameters and methods are read from ``app.url_map`` at request time, so the
document cannot drift from the routing. A route only adds what routing cannot know: summary, query
parameters, request body, responses. A route nobody documented still appears, marked ``x-undocumented``, and
a test fails on it.

How a feature documents its routes (MQTT settings, video jobs, streams do the same)::

    from visioncast.server.openapi import Schema, document, error, query, response

    JOB = Schema("VideoJob", {"type": "object", "properties": {...}})   # becomes components/schemas/VideoJob

    @bp.post("/jobs/<job_id>")
    @document("Start a video job", tags=["video"],
              parameters=[query("conf", {"type": "number"}, "minimum confidence")],
              request_body={"content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}},
              responses={202: response("job accepted", JOB), 404: error("no such job")})
    def start_job(job_id: str): ...

``document`` returns the function unchanged, so it may sit above or below the route decorator. Path
parameters (``<job_id>``) are added automatically. Any :class:`Schema` found anywhere in the arguments is
replaced by a ``$ref`` and defined once under ``components/schemas``; a page that answers HTML uses
``response("the page", media_type="text/html")``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, jsonify, request
from werkzeug.routing import Rule

from visioncast import __version__
from visioncast import lang as words
from visioncast.server.auth.access import access

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "__openapi__"
OPENAPI_VERSION = "3.1.0"
IGNORED_ENDPOINTS = ("static",)  # Flask's own static files
_CONVERTER = re.compile(r"<(?:(?P<conv>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_TYPES = {"int": "integer", "float": "number"}
_REF_PREFIX = "#/components/schemas/"
_KNOWN: dict[str, list[Schema]] = {}  # every Schema by name, to resolve bare ``schema.ref`` uses


@dataclass(frozen=True)
class Schema:
    """A named JSON Schema: defined once under components/schemas and referenced wherever it is used
    (as the object itself or as ``schema.ref``; every Schema made is known by name to :func:`build_spec`)."""

    name: str
    schema: Mapping[str, Any]

    def __post_init__(self) -> None:
        _KNOWN.setdefault(self.name, []).append(self)

    @property
    def ref(self) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{self.name}"}


ERROR = Schema("Error", {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "machine-readable code, e.g. unsupported_media"},
        "message": {"type": "string", "description": "what was expected and what came, in plain words"},
    },
})


def document(summary: str, *, description: str = "", tags: Sequence[str] = (),
             parameters: Sequence[Mapping[str, Any]] = (), request_body: Mapping[str, Any] | None = None,
             responses: Mapping[int, Mapping[str, Any]] | None = None) -> Callable[[F], F]:
    """Record the OpenAPI operation of a view function (applied to every method of its rule)."""
    operation: dict[str, Any] = {"summary": summary, "tags": list(tags),
                                 "responses": {str(k): dict(v) for k, v in (responses or {}).items()}}
    if description:
        operation["description"] = description
    if parameters:
        operation["parameters"] = [dict(p) for p in parameters]
    if request_body is not None:
        operation["requestBody"] = dict(request_body)
    if not operation["responses"]:
        operation["responses"] = {"200": {"description": "OK"}}

    def mark(fn: F) -> F:
        setattr(fn, ATTRIBUTE, operation)
        return fn

    return mark


def query(name: str, schema: Mapping[str, Any], description: str, *,
          required: bool = False) -> dict[str, Any]:
    """A query parameter."""
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": dict(schema)}


def response(description: str, schema: Schema | Mapping[str, Any] | None = None, *,
             media_type: str = "application/json") -> dict[str, Any]:
    """A response; with a schema (or any non-JSON ``media_type``) it gets a content entry."""
    if schema is None and media_type == "application/json":
        return {"description": description}
    body = schema if schema is not None else {}
    return {"description": description, "content": {media_type: {"schema": body}}}


def error(description: str) -> dict[str, Any]:
    """An error response with the ``{"error", "message"}`` body every /api/ error has."""
    return response(description, ERROR)


def _path_of(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    """'/results/<path:name>' → ('/results/{name}', [its path parameter])."""
    params = [
        {"name": m["name"], "in": "path", "required": True,
         "schema": {"type": _TYPES.get(m["conv"] or "", "string")}}
        for m in _CONVERTER.finditer(rule.rule)
    ]
    return _CONVERTER.sub(lambda m: "{" + m["name"] + "}", rule.rule), params


def _hoist(node: Any, components: dict[str, Any]) -> Any:
    """A copy of ``node`` with every Schema replaced by its $ref and defined in ``components``."""
    if isinstance(node, Schema):
        known = components.get(node.name)
        body = _hoist(dict(node.schema), components)
        if known is not None and known != body:
            raise ValueError(f"two different OpenAPI schemas are named {node.name!r}")
        components[node.name] = body
        return node.ref
    if isinstance(node, Mapping):
        return {k: _hoist(v, components) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_hoist(v, components) for v in node]
    return node


def _operation(app: Flask, rule: Rule, method: str, path_params: list[dict[str, Any]]) -> dict[str, Any]:
    view = app.view_functions[rule.endpoint]
    recorded = getattr(view, ATTRIBUTE, None)
    if recorded is None:
        doc = (view.__doc__ or rule.endpoint).strip().splitlines()[0]
        operation: dict[str, Any] = {"summary": doc, "responses": {"200": {"description": "OK"}},
                                     "x-undocumented": True}
    else:
        operation = dict(recorded)
    several = len((rule.methods or set()) - {"HEAD", "OPTIONS"}) > 1
    operation["operationId"] = f"{rule.endpoint}_{method.lower()}" if several else rule.endpoint
    if path_params:
        operation["parameters"] = path_params + list(operation.get("parameters", []))
    return operation


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route of ``app`` (except Flask's own static files)."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in IGNORED_ENDPOINTS:
            continue
        path, params = _path_of(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(app, rule, method, params)
    components: dict[str, Any] = {}
    spec = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "visioncast", "version": __version__,
                 "description": "Vision models as a JSON API: detection, classification and their results."},
        "paths": _hoist(paths, components),
    }
    _add_referenced(spec, components)
    spec["components"] = {"schemas": components}
    return spec


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            yield ref[len(_REF_PREFIX):]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _add_referenced(spec: dict[str, Any], components: dict[str, Any]) -> None:
    """Define every schema referenced only as ``Schema.ref`` (not as the Schema object itself)."""
    missing = [name for name in (*_refs(spec), *_refs(components)) if name not in components]
    while missing:
        name = missing.pop()
        if name in components:
            continue
        known = _KNOWN.get(name)
        if not known or len({repr(k.schema) for k in known}) > 1:
            raise ValueError(f"OpenAPI schema {name!r} is referenced but "
                             f"{'never defined' if not known else 'defined twice, differently'}")
        components[name] = _hoist(dict(known[0].schema), components)
        missing += [n for n in _refs(components[name]) if n not in components]


def translated(spec: dict[str, Any], lang: str) -> dict[str, Any]:
    """``spec`` (changed in place) with the operations' summaries and descriptions, the parameters' and
    responses' descriptions and the tags' display names (``tags[].x-displayName``) in ``lang``, from
    ``static/i18n/api-<lang>.json`` (keyed by the English text; English stays where an entry is missing).
    Names, paths, schemas and codes stay as they are: they are what programs use."""
    table = words.api_text(lang)
    if not table:
        return spec
    tags: set[str] = set()
    for methods in spec["paths"].values():
        for op in methods.values():
            for field in ("summary", "description"):
                if field in op:
                    op[field] = table[field].get(op[field], op[field])
            for param in op.get("parameters", []):
                if "description" in param:
                    param["description"] = table["parameter"].get(param["description"], param["description"])
            for answer in op.get("responses", {}).values():
                answer["description"] = table["response"].get(answer["description"], answer["description"])
            tags.update(op.get("tags", []))
    spec["tags"] = [{"name": tag, "x-displayName": table["tag"].get(tag, tag)} for tag in sorted(tags)]
    return spec


@document("This OpenAPI document", tags=["meta"],
          parameters=[query("lang", {"enum": list(words.LANGS)}, "the language of the summaries and "
                            "descriptions (default en)")],
          responses={200: response("the OpenAPI 3.1 document, generated from the routes")})
@access("open")
def openapi_json() -> Any:
    """The OpenAPI document."""
    return jsonify(translated(build_spec(current_app), request.args.get("lang", words.DEFAULT)))


def register(app: Flask) -> None:
    app.add_url_rule("/openapi.json", "openapi", openapi_json, methods=["GET"])
