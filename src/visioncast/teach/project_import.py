"""Importing a teaching project from an exported zip, bounded before anything is decoded. I/O: files under
the store's root (a staging folder renamed into place when complete).

A zip is a small file that can ask for a lot: a forged central directory, twenty classes naming the same
folder (each member decoded once per class: 243 s of CPU for 1 MB), tiles of huge PNGs, thousands of
samples. :class:`ZipImport` checks, in this order: the zip's size and what it unpacks to
(``teach.max_import_mb``), its number of files, ``project.json`` (size, depth, one list of distinct
classes, so each member belongs to one class and is decoded once), the pixels of all the images from their
headers (``teach.max_import_pixels``) and of each (``server.max_pixels``), then decodes, re-encodes and
counts the bytes against the owner's disk budget (``teach.max_client_mb``). A damaged zip is 400 ``bad_zip``.
"""

from __future__ import annotations

import io
import json
import secrets
import struct
import time
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from visioncast.core.jsontext import check_json
from visioncast.errors import InputError, TooLargeError
from visioncast.sources.image import decode_image
from visioncast.teach.project import KINDS, MAX_CLASSES, MAX_SAMPLES, ProjectStore, encode_sample
from visioncast.teach.train import check_labels

META_BYTES = 256 * 1024  # an imported project.json
HEADER_BYTES = 64 * 1024  # enough of an image to read its size
# what a damaged or forged zip raises while it is read (central directory, headers, inflating)
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError,
              RuntimeError, ValueError, OverflowError, struct.error)


class ZipImport:
    """One import into ``store`` (its limits, its owner budget, its staging folder)."""

    def __init__(self, store: ProjectStore) -> None:
        self.store = store

    def run(self, data: bytes, *, owner: str, max_pixels: int) -> dict[str, Any]:
        """A new project from an exported zip; InputError/TooLargeError naming what is wrong, nothing left.

        Bounded before anything is decoded: the zip's size and what it unpacks to (``max_import_mb``), its
        number of files, one list of distinct classes (each member belongs to one class and is decoded
        once), the pixels of each image (``max_pixels``) and of all together (``max_import_pixels``), and
        the owner's disk budget (``max_client_mb``)."""
        limit = int(self.store.limits.max_import_mb * 1024 * 1024)
        if len(data) > limit:
            raise TooLargeError(f"the project zip is {len(data) / 1e6:.0f} MB; the limit is "
                                f"{self.store.limits.max_import_mb:.0f} MB")
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                return self._import(zf, owner=owner, max_pixels=max_pixels)
        except ZIP_ERRORS as exc:
            raise InputError(f"expected a project .zip exported by visioncast, got an unreadable or damaged "
                             f"file: {exc}", code="bad_zip") from exc

    def _import(self, zf: zipfile.ZipFile, *, owner: str, max_pixels: int) -> dict[str, Any]:
        infos = zf.infolist()
        if len(infos) > MAX_CLASSES * MAX_SAMPLES + 1:
            raise InputError(f"the zip holds {len(infos)} files; a project has at most "
                             f"{MAX_CLASSES * MAX_SAMPLES} samples and its project.json")
        limit_mb = self.store.limits.max_import_mb
        if sum(i.file_size for i in infos) > limit_mb * 1024 * 1024:
            raise TooLargeError(f"the project zip unpacks to more than {limit_mb:.0f} MB")
        meta = self._read_meta(zf)
        with self.store._staging() as stage:
            project = self._unpack(zf, meta, stage, owner=owner, max_pixels=max_pixels)
            project["owner"] = owner
            (stage / "project.json").write_text(json.dumps(project, ensure_ascii=False, indent=1),
                                                encoding="utf-8")
            with self.store._lock:
                self.store._check_quota(owner)
                stage.rename(self.store.root / project["id"])
        return project

    @staticmethod
    def _read_meta(zf: zipfile.ZipFile) -> dict[str, Any]:
        try:
            info = zf.getinfo("project.json")
        except KeyError as exc:
            raise InputError("the zip holds no project.json: export a project from visioncast") from exc
        if info.file_size > META_BYTES:
            raise TooLargeError(f"the zip's project.json is {info.file_size} bytes; at most {META_BYTES}")
        try:
            meta = json.loads(check_json(zf.read(info), max_bytes=META_BYTES, max_depth=8,
                                         what="zip's project.json").decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise InputError(f"the zip's project.json is not valid JSON: {exc}") from exc
        if not isinstance(meta, dict) or not isinstance(meta.get("classes"), list):
            raise InputError("the zip's project.json has no list of classes")
        return meta

    @staticmethod
    def _planned(zf: zipfile.ZipFile, meta: dict[str, Any]) -> list[tuple[str, list[zipfile.ZipInfo]]]:
        """(class name, its members) per class: distinct ids, so each member is read for one class only."""
        classes = [c for c in meta["classes"] if isinstance(c, dict)]
        names = check_labels(str(c.get("name", "")) for c in classes)
        if len(names) != len(meta["classes"]) or not 1 <= len(names) <= MAX_CLASSES:
            raise InputError(f"the zip's project.json must list 1-{MAX_CLASSES} classes with names")
        ids = [str(c.get("id", "")) for c in classes]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise InputError(f"the zip's project.json lists class id {twice[0]!r} more than once")
        members: dict[str, list[zipfile.ZipInfo]] = {i: [] for i in ids}
        for info in zf.infolist():
            folder, _, rest = info.filename.removeprefix("samples/").partition("/")
            if info.filename.startswith("samples/") and rest and not info.is_dir() and folder in members:
                members[folder].append(info)
        return [(name, members[i][:MAX_SAMPLES]) for name, i in zip(names, ids, strict=True)]

    def _unpack(self, zf: zipfile.ZipFile, meta: dict[str, Any], stage: Path, *, owner: str,
                max_pixels: int) -> dict[str, Any]:
        kind = meta.get("kind", "image")
        if kind not in KINDS:
            raise InputError(f"the zip's project kind must be one of {', '.join(KINDS)}, got {kind!r}")
        plan = self._planned(zf, meta)
        self._check_pixels(zf, [info for _, members in plan for info in members])
        pixels_left = self.store.limits.max_import_pixels
        bytes_left = int(self.store.limits.max_client_mb * 1024 * 1024) - self.store.usage(owner)
        classes = []
        for name, members in plan:
            cls = {"id": secrets.token_hex(4), "name": name}
            (stage / "samples" / cls["id"]).mkdir(parents=True)
            for info in members:
                image = self._decode_member(zf, info, min(max_pixels, pixels_left), max_pixels)
                pixels_left -= image.shape[0] * image.shape[1]
                jpeg = encode_sample(image)
                bytes_left -= len(jpeg)
                if bytes_left < 0:
                    raise TooLargeError(self.store._full_message(), code="teach_full")
                (stage / "samples" / cls["id"] / f"{secrets.token_hex(6)}.jpg").write_bytes(jpeg)
            classes.append(cls)
        name = str(meta.get("name", "imported")).strip()[:64] or "imported"
        return {"id": stage.name.removeprefix(".import-"), "name": name, "kind": kind, "owner": "",
                "created": time.time(), "classes": classes, "trained": None}

    def _check_pixels(self, zf: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> None:
        """413 before anything is decoded when the members' headers already add up to more pixels than
        ``max_import_pixels`` (each decode checks again, for headers that could not be read here)."""
        total = 0
        for info in members:
            with zf.open(info) as fh, warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                try:
                    with Image.open(io.BytesIO(fh.read(HEADER_BYTES))) as img:
                        total += img.width * img.height
                except Image.DecompressionBombError:
                    total += self.store.limits.max_import_pixels + 1
                except (OSError, SyntaxError, ValueError):
                    continue  # not readable from its first bytes: decoding it says what is wrong
            if total > self.store.limits.max_import_pixels:
                raise TooLargeError(f"the zip's images have more than "
                                    f"{self.store.limits.max_import_pixels / 1e6:.0f} megapixels in all "
                                    "(teach.max_import_pixels)", code="image_too_large")

    def _decode_member(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int,
                       max_pixels: int) -> np.ndarray:
        """One member decoded (its header checked against ``cap`` pixels first)."""
        try:
            return decode_image(zf.read(info), name=info.filename, max_pixels=cap)
        except TooLargeError as exc:
            if cap >= max_pixels:
                raise
            total = self.store.limits.max_import_pixels / 1e6
            raise TooLargeError(f"the zip's images have more than {total:.0f} megapixels in all "
                                "(teach.max_import_pixels)", code="image_too_large") from exc
