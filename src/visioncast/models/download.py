"""Pulling models into the cache: streamed HTTP download, SHA-256 check, ONNX check, index entry. I/O.

The file is written to a temporary file in the cache (:func:`visioncast.atomic.atomic_path`) while its
SHA-256 is computed, checked against the expected digest and loaded once with onnxruntime; only then is it
renamed into place (atomically) and recorded in ``<cache_dir>/index.json`` as
``{name: {"file", "task", "family", "labels", "licence", "sha256", "url"}}``.
On any failure nothing is left behind. A tqdm progress bar goes to stderr.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

import requests
from tqdm import tqdm

from visioncast.atomic import atomic_path
from visioncast.errors import InputError, ModelError
from visioncast.models.labels import BUILTIN, read_labels_file
from visioncast.models.registry import ModelInfo, guess_task, register_model, shipped_models
from visioncast.runtimes import open_runtime
from visioncast.tasks.family import detect_family

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16
DEFAULT_TIMEOUT_S = 30.0
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def pull_model(
    url: str,
    sha256: str,
    *,
    cache_dir: Path,
    name: str | None = None,
    task: str | None = None,
    labels: str | None = None,
    licence: str = "unknown",
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: bool = True,
) -> ModelInfo:
    """Download the ONNX model at ``url`` into ``cache_dir`` and register it under ``name``.

    ``sha256`` is the expected digest (64 hex digits); ``task`` is recognised from the model when None;
    ``labels`` is a built-in set name or a labels file (stored as an absolute path). Raises InputError for bad
    arguments and ModelError for a failed download, a digest mismatch or a file that is not a loadable ONNX
    model.
    """
    expected = _check_sha256(sha256)
    name = _check_name(name or Path(urlparse(url).path).stem, url)
    labels = _check_labels(labels)
    if urlparse(url).scheme not in ("http", "https"):
        raise InputError(f"model URL must be http:// or https://, got {url!r}")
    final = cache_dir / f"{name}.onnx"
    with atomic_path(final) as part:  # a model in the cache is not a secret: mode 644 once in place
        with part.open("wb") as out:
            got = _download(url, out, timeout_s=timeout_s, progress=progress)
        if got != expected:
            raise ModelError(f"sha256 mismatch for {url}: expected {expected}, got {got}")
        task, family = _inspect(part, url, task)
    entry = {"file": final.name, "task": task, "family": family, "labels": labels, "licence": licence,
             "sha256": expected, "url": url}
    register_model(cache_dir, name, entry)
    log.info("pulled %s from %s into %s", name, url, final)
    return ModelInfo(name, task, final, family, labels, licence, "pulled")


def _check_sha256(sha256: str) -> str:
    if not _SHA256.fullmatch(sha256.strip()):
        raise InputError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    return sha256.strip().lower()


def _check_name(name: str, url: str) -> str:
    if not _NAME.fullmatch(name):
        raise InputError(f"model name must be 1–64 letters, digits, '.', '_' or '-' (from --name or the URL "
                         f"{url!r}), got {name!r}")
    if name in {m.name for m in shipped_models()}:
        raise InputError(f"model name {name!r} is taken by a shipped model; choose another with --name")
    return name


def _check_labels(labels: str | None) -> str | None:
    if not labels or labels in BUILTIN:
        return labels or None
    path = Path(labels).expanduser().resolve()
    read_labels_file(path)  # fail now, not at the first detection
    return str(path)


def _download(url: str, out: IO[bytes], *, timeout_s: float, progress: bool) -> str:
    """Stream ``url`` into ``out``; the SHA-256 hex digest of what was written."""
    digest = hashlib.sha256()
    try:
        with requests.get(url, stream=True, timeout=timeout_s) as resp:
            if resp.status_code >= 400:
                raise ModelError(f"cannot download {url}: HTTP {resp.status_code} {resp.reason}")
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
                      desc=Path(urlparse(url).path).name or url, disable=not progress) as bar:
                for chunk in resp.iter_content(CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except requests.Timeout as exc:
        raise ModelError(f"cannot download {url}: timed out after {timeout_s:g} s") from exc
    except requests.RequestException as exc:
        raise ModelError(f"cannot download {url}: {_cause(exc)}") from exc
    except OSError as exc:
        raise ModelError(f"cannot write the download of {url}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def _cause(exc: requests.RequestException) -> str:
    """The useful part of a requests error ("[Errno 111] Connection refused"), not the whole urllib3 chain."""
    text = str(exc)
    found = _ERRNO.search(text)
    if found:
        return found.group(0).strip()
    return f"{type(exc).__name__}: {text[:200]}"


def _inspect(path: Path, url: str, task: str | None) -> tuple[str, str | None]:
    """(task, family) of the downloaded file; ModelError when it is not a loadable ONNX model."""
    try:
        runtime = open_runtime(path, threads=1)
    except ModelError as exc:
        raise ModelError(f"{url} is not a loadable ONNX model: {exc}") from exc
    try:
        task = task or guess_task(runtime)
        if task != "detect":
            return task, None
        try:
            return task, detect_family(runtime)
        except ModelError as exc:
            log.warning("%s: family not recognised, pass --family when using it (%s)", url, exc)
            return task, None
    finally:
        runtime.close()
