"""Teaching over HTTP: projects, classes, samples, training, trying and using a taught model, and the /teach
page. I/O: the project store under ``<data_dir>/teach``, the model cache.

A student works on their own projects (owned, like video jobs, by the client's address: see
:func:`visioncast.server.auth.core.client_id`); the teacher sees every project and alone makes a trained
model one of the server's models (``use``). Training runs in the request (seconds); each project trains on
its own (a second Train of the same project while one runs is 409), so one student's long training never
holds up another's. Trying a project answers like ``POST /api/v1/classify`` and publishes under the source
rules of :func:`visioncast.server.sources.publish_source` (``teach`` for the teacher and the project the
teacher chose), so a board reacts to the new labels before the model is even shared.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request

from visioncast.errors import InputError, NotFoundError
from visioncast.models.registry import load_model
from visioncast.server.api import RESULT, answer
from visioncast.server.auth.access import access
from visioncast.server.auth.core import client_id, current_role
from visioncast.server.openapi import Schema, document, error, response
from visioncast.server.pages import add_nav_link
from visioncast.server.query import render_mode, task_options
from visioncast.server.services import services
from visioncast.server.sources import publish_source
from visioncast.server.upload import upload_bytes
from visioncast.sources.image import decode_image
from visioncast.tasks import Task, run_stages
from visioncast.teach import KINDS, FeatureExtractor, save_taught, teach
from visioncast.teach.project import ProjectStore, StoreLimits
from visioncast.teach.project_import import ZipImport

EXTENSION = "visioncast.teach"
TRIED_MODELS = 8  # trained projects kept loaded for "Try"

bp = Blueprint("teach", __name__)

PROJECT = Schema("TeachProject", {
    "type": "object", "required": ["id", "name", "kind", "classes", "trained"],
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "kind": {"enum": ["image", "pose"]},
        "created": {"type": "number"}, "mine": {"type": "boolean"},
        "classes": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "count": {"type": "integer"},
            "samples": {"type": "array", "items": {"type": "string"}}}}},
        "trained": {"type": ["object", "null"], "description": "the last training's report"},
    },
})
REPORT = Schema("TeachReport", {
    "type": "object", "required": ["labels", "counts", "held_out", "accuracy", "confusion"],
    "properties": {
        "labels": {"type": "array", "items": {"type": "string"}},
        "counts": {"type": "array", "items": {"type": "integer"}},
        "held_out": {"type": "array", "items": {"type": "integer"}},
        "accuracy": {"type": ["number", "null"], "description": "held-out accuracy (null: too few samples)"},
        "per_class": {"type": "array", "items": {"type": ["number", "null"]}},
        "confusion": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}},
                      "description": "confusion[i][j]: held-out samples of class i predicted as j"},
        "seconds": {"type": "number"},
    },
})
_NAME_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}}
_PROJECT_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["name"], "properties": {
        "name": {"type": "string"},
        "kind": {"enum": ["image", "pose"], "default": "image",
                 "description": "learn from the whole image, or from the person's pose (keypoints)"}}}}}}
_IMAGE = {"required": True, "description": "an image: multipart field 'image', a raw body or JSON base64",
          "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}}}
_ERR = {400: error("bad input"), 404: error("no such project, class or sample")}
_HTML = {200: response("the page", media_type="text/html")}


class TeachService:
    """The store, the shared feature extractors (one per project kind, loaded on first training) and the
    tried models."""

    def __init__(self, store: ProjectStore, cache_dir: Path) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self._extractors: dict[str, FeatureExtractor] = {}
        self._extractors_lock = threading.Lock()
        self._training: set[str] = set()
        self._training_lock = threading.Lock()
        self._models: OrderedDict[tuple[str, float], Task] = OrderedDict()
        self._models_lock = threading.Lock()

    def _extractor(self, kind: str) -> FeatureExtractor:
        with self._extractors_lock:
            if kind not in self._extractors:
                self._extractors[kind] = FeatureExtractor(KINDS[kind], cache_dir=self.cache_dir)
            return self._extractors[kind]

    def train(self, pid: str) -> dict[str, Any]:
        """Train project ``pid`` (others train meanwhile); TrainingBusyError while it already trains."""
        kind = self.store.load(pid)["kind"]
        with self._training_lock:
            if pid in self._training:
                raise TrainingBusyError("this project is training already; wait for its report")
            self._training.add(pid)
        try:
            model, report = teach(self.store.images(pid), self._extractor(kind))
        finally:
            with self._training_lock:
                self._training.discard(pid)
        ev = report.evaluation
        summary = {"labels": list(report.labels), "counts": list(report.counts),
                   "held_out": list(report.held_out), "accuracy": ev.accuracy,
                   "per_class": list(ev.per_class), "confusion": ev.confusion.tolist(),
                   "seconds": round(report.extract_s + report.fit_s, 2)}
        self.store.save_model(pid, model.SerializeToString(), summary)
        return summary

    def model(self, pid: str) -> Task:
        project = self.store.load(pid)
        path = self.store.model_path(pid)
        key = (pid, float(project["trained"]["at"]))
        with self._models_lock:
            if key not in self._models:
                model = load_model(path, task="classify")
                model.name = project["name"]
                self._models[key] = model
                while len(self._models) > TRIED_MODELS:
                    self._models.popitem(last=False)
            self._models.move_to_end(key)
            return self._models[key]


class TrainingBusyError(InputError):
    """The project is being trained already (HTTP 409)."""

    code = "training_busy"
    http_status = 409


def teaching() -> TeachService:
    return current_app.extensions[EXTENSION]


def project_of(pid: str) -> dict[str, Any]:
    """The project ``pid`` when this client owns it or is the teacher (404 otherwise: another's project is
    not revealed)."""
    project = teaching().store.load(pid)
    if project.get("owner") != client_id() and current_role() != "teacher":
        raise NotFoundError(f"no project {pid!r}")
    return project


def _view(project: dict[str, Any]) -> dict[str, Any]:
    store = teaching().store
    classes = []
    for cls in project["classes"]:
        ids = store.samples(project["id"], cls["id"])
        classes.append({"id": cls["id"], "name": cls["name"], "count": len(ids), "samples": ids})
    return {"id": project["id"], "name": project["name"], "kind": project["kind"],
            "created": project["created"], "mine": project.get("owner") == client_id(),
            "classes": classes, "trained": project.get("trained")}


def _name_from_body() -> str:
    body = request.get_json(silent=True)
    name = body.get("name") if isinstance(body, dict) else None
    if not isinstance(name, str):
        raise InputError('the body must be JSON like {"name": "…"}')
    return name


@bp.get("/teach")
@access("student")
@document("Teach page: record samples from the webcam, train, try and use a model", tags=["pages"],
          responses=_HTML)
def page() -> str:
    return render_template("teach.html")


@bp.get("/api/v1/teach/projects")
@access("student")
@document("The caller's teaching projects (the teacher's: every project)", tags=["teach"],
          responses={200: response("the projects", {"type": "object", "properties": {
              "projects": {"type": "array", "items": PROJECT.ref}}})})
def projects() -> Any:
    owner = None if current_role() == "teacher" else client_id()
    return jsonify(projects=[_view(p) for p in teaching().store.projects(owner)])


@bp.post("/api/v1/teach/projects")
@access("student")
@document("Create a teaching project", tags=["teach"], request_body=_PROJECT_BODY,
          responses={201: response("the project", PROJECT), 400: error("bad name or too many projects")})
def create() -> Any:
    body = request.get_json(silent=True)
    kind = body.get("kind", "image") if isinstance(body, dict) else "image"
    project = teaching().store.create(_name_from_body(), kind=str(kind), owner=client_id())
    return jsonify(_view(project)), 201


@bp.get("/api/v1/teach/projects/<pid>")
@access("student")
@document("A teaching project with its classes and samples", tags=["teach"],
          responses={200: response("the project", PROJECT), **_ERR})
def project(pid: str) -> Any:
    return jsonify(_view(project_of(pid)))


@bp.delete("/api/v1/teach/projects/<pid>")
@access("student")
@document("Delete a teaching project and its samples", tags=["teach"],
          responses={204: response("deleted"), **_ERR})
def delete(pid: str) -> Any:
    project_of(pid)
    teaching().store.delete(pid)
    return "", 204


@bp.post("/api/v1/teach/projects/<pid>/classes")
@access("student")
@document("Add a class", tags=["teach"], request_body=_NAME_BODY,
          responses={201: response("the project", PROJECT), **_ERR})
def add_class(pid: str) -> Any:
    project_of(pid)
    teaching().store.add_class(pid, _name_from_body())
    return jsonify(_view(project_of(pid))), 201


@bp.delete("/api/v1/teach/projects/<pid>/classes/<cid>")
@access("student")
@document("Delete a class with its samples", tags=["teach"],
          responses={200: response("the project", PROJECT), **_ERR})
def delete_class(pid: str, cid: str) -> Any:
    project_of(pid)
    teaching().store.delete_class(pid, cid)
    return jsonify(_view(project_of(pid)))


@bp.post("/api/v1/teach/projects/<pid>/classes/<cid>/samples")
@access("student")
@document("Add a sample image to a class (stored re-encoded as JPEG)", tags=["teach"], request_body=_IMAGE,
          responses={201: response("the sample id", {"type": "object", "properties": {
              "id": {"type": "string"}, "count": {"type": "integer"}}}),
              **_ERR, 413: error("image too large"), 415: error("not an image")})
def add_sample(pid: str, cid: str) -> Any:
    project_of(pid)
    data, _ = upload_bytes(request)
    store = teaching().store
    sid = store.add_sample(pid, cid, data, max_pixels=services().config.server.max_pixels)
    return jsonify(id=sid, count=len(store.samples(pid, cid))), 201


@bp.get("/api/v1/teach/projects/<pid>/classes/<cid>/samples/<sid>.jpg")
@access("student")
@document("A sample image", tags=["teach"],
          responses={200: response("the JPEG", media_type="image/jpeg"), **_ERR})
def sample(pid: str, cid: str, sid: str) -> Any:
    project_of(pid)
    path = teaching().store.sample_path(pid, cid, sid)
    answer = Response(path.read_bytes(), mimetype="image/jpeg")
    answer.headers["Cache-Control"] = "private, max-age=3600"
    answer.headers["X-Content-Type-Options"] = "nosniff"
    return answer


@bp.delete("/api/v1/teach/projects/<pid>/classes/<cid>/samples/<sid>")
@access("student")
@document("Delete a sample", tags=["teach"], responses={204: response("deleted"), **_ERR})
def delete_sample(pid: str, cid: str, sid: str) -> Any:
    project_of(pid)
    teaching().store.delete_sample(pid, cid, sid)
    return "", 204


@bp.post("/api/v1/teach/projects/<pid>/train")
@access("student")
@document("Train the project's model; answers the held-out accuracy and confusion table", tags=["teach"],
          responses={200: response("the training report", REPORT), **_ERR,
                     409: error("this project is training already")})
def train(pid: str) -> Any:
    project_of(pid)
    return jsonify(teaching().train(pid))


@bp.post("/api/v1/teach/projects/<pid>/classify")
@access("student")
@document("Try the project's trained model on an image (answered and published like /api/v1/classify)",
          tags=["teach"], request_body=_IMAGE,
          responses={200: response("the top classes", RESULT), **_ERR, 415: error("not an image")})
def try_model(pid: str) -> Any:
    project = project_of(pid)
    args = request.args
    render = render_mode(args)
    source = publish_source(args, "teach", shared_default=bool(project.get("used")))
    model = teaching().model(pid)
    options = task_options(args, model.labels, model.name)
    data, name = upload_bytes(request)
    image = decode_image(data, name=name, max_pixels=services().config.server.max_pixels)
    return answer(run_stages(model, image, options), image, source=source, render=render)


@bp.post("/api/v1/teach/projects/<pid>/use")
@access("teacher")
@document("Make the trained model one of the server's models, under a name", tags=["teach"],
          request_body=_NAME_BODY, responses={201: response("the model", {"type": "object", "properties": {
              "name": {"type": "string"}, "task": {"type": "string"}}}), **_ERR,
              401: error("teacher only")})
def use(pid: str) -> Any:
    project_of(pid)
    store = teaching().store
    path = store.model_path(pid)
    import onnx  # noqa: PLC0415 - the graph is read only here

    info = save_taught(onnx.load(str(path)), _name_from_body(), cache_dir=teaching().cache_dir)
    store.mark_used(pid, info.name)  # the teacher's choice: its tries publish under "teach" for everyone
    return jsonify(name=info.name, task=info.task), 201


@bp.get("/api/v1/teach/projects/<pid>/export")
@access("student")
@document("The project's classes and samples as a zip (to import on another machine)", tags=["teach"],
          responses={200: response("the zip", media_type="application/zip"), **_ERR})
def export(pid: str) -> Any:
    project = project_of(pid)
    answer = Response(teaching().store.export_zip(pid), mimetype="application/zip")
    answer.headers["Content-Disposition"] = f"attachment; filename=teach-{project['id']}.zip"
    return answer


@bp.post("/api/v1/teach/import")
@access("student")
@document("Import a project zip exported by visioncast", tags=["teach"],
          request_body={"required": True, "content": {"application/zip": {"schema": {
              "type": "string", "format": "binary"}}}},
          responses={201: response("the project", PROJECT), 400: error("not a project zip, or damaged"),
                     413: error("zip, its images or the owner's projects over the teach limits")})
def import_project() -> Any:
    request.max_content_length = int(services().config.teach.max_import_mb * 1024 * 1024)
    file = request.files.get("project") if request.mimetype == "multipart/form-data" else None
    data = file.read() if file is not None else request.get_data()
    if not data:
        raise InputError("send the project .zip as the body or as a multipart file field 'project'")
    project = ZipImport(teaching().store).run(data, owner=client_id(),
                                          max_pixels=services().config.server.max_pixels)
    return jsonify(_view(project)), 201


def register(app: Flask) -> None:
    """The teach blueprint, its store under the data dir and its page in the navigation."""
    cfg = app.extensions["visioncast"].config
    limits = StoreLimits(cfg.teach.max_projects, cfg.teach.max_import_mb, cfg.teach.max_client_mb,
                         cfg.teach.max_import_pixels)
    store = ProjectStore(Path(cfg.data_dir) / "teach", limits)
    app.extensions[EXTENSION] = TeachService(store, Path(cfg.models.cache_dir))
    app.register_blueprint(bp)
    add_nav_link(app, "teach.page", "Teach",
                 "Record a few samples per class with the camera, train in seconds, try it, push its labels.")
