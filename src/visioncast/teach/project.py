"""Teaching projects on disk: classes, their samples, the trained model, zip export and import. I/O: files
under ``<data_dir>/teach``.

One folder per project::

    <id>/project.json   {"id", "name", "kind", "owner", "created", "classes": [{"id", "name"}], "trained"}
    <id>/samples/<class>/<sample>.jpg   each sample re-encoded as a JPEG of at most SAMPLE_SIDE pixels
    <id>/model.onnx     the last trained model

Every write is atomic (a temporary file renamed into place) and an import is unpacked into a temporary folder
that is renamed into place only when complete, so a failure never leaves a half-written project. Samples are
decoded and re-encoded, never stored as sent, so what the server keeps and serves is always a plain JPEG.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import secrets
import shutil
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from visioncast.atomic import write_atomic
from visioncast.errors import InputError, NotFoundError, TooLargeError, VisioncastError
from visioncast.jpeg import encode_jpeg
from visioncast.models.labels import check_labels
from visioncast.sources.image import decode_image

KINDS = ("image", "pose")
SAMPLE_SIDE = 480
JPEG_QUALITY = 90
MAX_CLASSES = 20
MAX_SAMPLES = 300  # per class
_ID = re.compile(r"[0-9a-f]{6,32}")


@dataclass(frozen=True)
class StoreLimits:
    """The ``teach`` section of the config: max_projects and max_client_mb (disk) per owner;
    max_import_mb: an imported zip (compressed and unpacked); max_import_pixels: its images in all."""

    max_projects: int = 20
    max_import_mb: float = 100.0
    max_client_mb: float = 200.0
    max_import_pixels: int = 400_000_000


def _check_id(value: str, what: str) -> str:
    if not _ID.fullmatch(value):
        raise NotFoundError(f"no {what} {value!r}")
    return value


def encode_sample(image: np.ndarray) -> bytes:
    """A sample as kept: shrunk to at most SAMPLE_SIDE pixels on its longer side, JPEG."""
    try:
        return encode_jpeg(image, JPEG_QUALITY, max_side=SAMPLE_SIDE)
    except VisioncastError as exc:
        raise InputError("the sample could not be encoded as JPEG") from exc


class ProjectStore:
    """All projects under ``root``. Thread-safe: one lock guards every change of a project.json."""

    def __init__(self, root: Path, limits: StoreLimits | None = None) -> None:
        self.root = root
        self.limits = limits or StoreLimits()
        self._lock = threading.RLock()
        root.mkdir(parents=True, exist_ok=True)
        for leftover in root.glob(".import-*"):  # an import cut short by a crash
            shutil.rmtree(leftover, ignore_errors=True)

    # -- projects --------------------------------------------------------------------------------------------
    def folder(self, pid: str) -> Path:
        path = self.root / _check_id(pid, "project")
        if not (path / "project.json").is_file():
            raise NotFoundError(f"no project {pid!r}")
        return path

    def load(self, pid: str) -> dict[str, Any]:
        return json.loads((self.folder(pid) / "project.json").read_text(encoding="utf-8"))

    def _save(self, project: dict[str, Any]) -> None:
        data = json.dumps(project, ensure_ascii=False, indent=1).encode("utf-8")
        write_atomic(self.root / project["id"] / "project.json", data)

    def projects(self, owner: str | None = None) -> list[dict[str, Any]]:
        """Every project (of ``owner`` when given), newest first."""
        found = []
        for meta in self.root.glob("*/project.json"):
            project = json.loads(meta.read_text(encoding="utf-8"))
            if owner is None or project.get("owner") == owner:
                found.append(project)
        return sorted(found, key=lambda p: p["created"], reverse=True)

    def _check_quota(self, owner: str) -> None:
        if len(self.projects(owner)) >= self.limits.max_projects:
            raise InputError(f"at most {self.limits.max_projects} projects each; delete one first")

    def create(self, name: str, *, kind: str = "image", owner: str = "") -> dict[str, Any]:
        name = name.strip()
        if not 1 <= len(name) <= 64:
            raise InputError(f"a project name must be 1-64 characters, got {name!r}")
        if kind not in KINDS:
            raise InputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        with self._lock:
            self._check_quota(owner)
            pid = secrets.token_hex(8)
            (self.root / pid / "samples").mkdir(parents=True)
            project = {"id": pid, "name": name, "kind": kind, "owner": owner, "created": time.time(),
                       "classes": [], "trained": None}
            self._save(project)
        return project

    def delete(self, pid: str) -> None:
        with self._lock:
            folder = self.folder(pid)
            trash = self.root / f".delete-{pid}"
            folder.rename(trash)  # gone at once for readers, then removed
            shutil.rmtree(trash, ignore_errors=True)

    # -- classes ---------------------------------------------------------------------------------------------
    def add_class(self, pid: str, name: str) -> dict[str, Any]:
        with self._lock:
            project = self.load(pid)
            names = [c["name"] for c in project["classes"]]
            if len(names) >= MAX_CLASSES:
                raise InputError(f"a project holds at most {MAX_CLASSES} classes")
            if name.strip() in names:
                raise InputError(f"class name {name.strip()!r} is already in this project")
            (label,) = check_labels([name], existing=names)
            cls = {"id": secrets.token_hex(4), "name": label}
            (self.folder(pid) / "samples" / cls["id"]).mkdir()
            project["classes"].append(cls)
            project["trained"] = None
            self._save(project)
        return cls

    def delete_class(self, pid: str, cid: str) -> None:
        with self._lock:
            project = self.load(pid)
            self._class(project, cid)
            project["classes"] = [c for c in project["classes"] if c["id"] != cid]
            project["trained"] = None
            self._save(project)
            shutil.rmtree(self.folder(pid) / "samples" / cid, ignore_errors=True)

    @staticmethod
    def _class(project: dict[str, Any], cid: str) -> dict[str, Any]:
        for cls in project["classes"]:
            if cls["id"] == cid:
                return dict(cls)
        raise NotFoundError(f"no class {cid!r} in project {project['name']!r}")

    # -- samples ---------------------------------------------------------------------------------------------
    def samples(self, pid: str, cid: str) -> list[str]:
        """Sample ids of a class, oldest first."""
        folder = self.folder(pid) / "samples" / _check_id(cid, "class")
        files = sorted(folder.glob("*.jpg"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        return [p.stem for p in files]

    def add_sample(self, pid: str, cid: str, data: bytes, *, max_pixels: int) -> str:
        """Decode ``data`` (any supported image), store it re-encoded; the new sample id."""
        jpeg = encode_sample(decode_image(data, name="sample", max_pixels=max_pixels))
        with self._lock:
            project = self.load(pid)
            self._class(project, cid)
            if len(self.samples(pid, cid)) >= MAX_SAMPLES:
                raise InputError(f"a class holds at most {MAX_SAMPLES} samples; delete some first")
            if self.usage(project.get("owner", "")) + len(jpeg) > self.limits.max_client_mb * 1024 * 1024:
                raise TooLargeError(self._full_message(), code="teach_full")
            sid = secrets.token_hex(6)
            write_atomic(self.folder(pid) / "samples" / cid / f"{sid}.jpg", jpeg)
            self._untrain(pid)
        return sid

    def sample_path(self, pid: str, cid: str, sid: str) -> Path:
        path = self.folder(pid) / "samples" / _check_id(cid, "class") / f"{_check_id(sid, 'sample')}.jpg"
        if not path.is_file():
            raise NotFoundError(f"no sample {sid!r}")
        return path

    def delete_sample(self, pid: str, cid: str, sid: str) -> None:
        with self._lock:
            self.sample_path(pid, cid, sid).unlink()
            self._untrain(pid)

    def _untrain(self, pid: str) -> None:
        project = self.load(pid)
        if project.get("trained") is not None:
            project["trained"] = None
            self._save(project)

    def images(self, pid: str) -> dict[str, list[np.ndarray]]:
        """Class name → its decoded samples (for training)."""
        project = self.load(pid)
        out: dict[str, list[np.ndarray]] = {}
        for cls in project["classes"]:
            paths = [self.sample_path(pid, cls["id"], sid) for sid in self.samples(pid, cls["id"])]
            images = (cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths)
            out[cls["name"]] = [image for image in images if image is not None]  # a damaged file is left out
        return out

    # -- the trained model -----------------------------------------------------------------------------------
    def save_model(self, pid: str, model_bytes: bytes, report: dict[str, Any]) -> None:
        with self._lock:
            project = self.load(pid)
            write_atomic(self.folder(pid) / "model.onnx", model_bytes)
            project["trained"] = {"at": time.time(), **report}
            self._save(project)

    def mark_used(self, pid: str, model: str) -> None:
        """The teacher made the project's model one of the server's models (``model``)."""
        with self._lock:
            project = self.load(pid)
            project["used"] = model
            self._save(project)

    def model_path(self, pid: str) -> Path:
        project = self.load(pid)
        path = self.folder(pid) / "model.onnx"
        if project.get("trained") is None or not path.is_file():
            raise InputError(f"project {project['name']!r} has no trained model yet: press Train first")
        return path

    # -- sharing ---------------------------------------------------------------------------------------------
    def export_zip(self, pid: str) -> bytes:
        """project.json (without owner and model) + samples/<class>/<sample>.jpg, as a zip."""
        project = self.load(pid)
        shared = {"name": project["name"], "kind": project["kind"], "classes": project["classes"]}
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("project.json", json.dumps(shared, ensure_ascii=False, indent=1))
            for cls in project["classes"]:
                for sid in self.samples(pid, cls["id"]):
                    zf.write(self.sample_path(pid, cls["id"], sid), f"samples/{cls['id']}/{sid}.jpg")
        return buf.getvalue()

    # -- the owner's disk budget ---------------------------------------------------------------------------
    def usage(self, owner: str) -> int:
        """Bytes on disk of ``owner``'s projects."""
        total = 0
        for project in self.projects(owner):
            total += sum(f.stat().st_size for f in (self.root / project["id"]).rglob("*") if f.is_file())
        return total

    def _full_message(self) -> str:
        return (f"your teaching projects already take the {self.limits.max_client_mb:g} MB each person may "
                "use (teach.max_client_mb); delete samples or a project first")

    @contextlib.contextmanager
    def _staging(self) -> Iterator[Path]:
        stage = self.root / f".import-{secrets.token_hex(8)}"
        stage.mkdir()
        try:
            yield stage
        finally:
            shutil.rmtree(stage, ignore_errors=True)  # gone after the rename; cleaned up after a failure
