"""pull_model against a real HTTP server on loopback: checksum, atomic write, index entry, clear errors."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket

import numpy as np
import pytest
from tests.mqtt_peers import free_port

from local_http import serve_directory
from tiny_onnx import classifier_model
from visioncast.errors import InputError, ModelError
from visioncast.models import load_model
from visioncast.models.download import pull_model
from visioncast.models.registry import DATA, list_models
from visioncast.tasks import Classifier, Detector


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    shutil.copy(DATA / "yolox_nano_416_coco.onnx", root / "yolox.onnx")
    classifier_model(root / "tiny-classifier.onnx", [0.0, 2.0, 1.0])
    (root / "notes.onnx").write_text("not a model", encoding="utf-8")
    with serve_directory(root) as base:
        yield base, root


def files_in(cache) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_pull_detector_records_index_and_loads(served, tmp_path, capsys):
    base, root = served
    cache = tmp_path / "cache"
    digest = sha256_of(root / "yolox.onnx")
    info = pull_model(f"{base}/yolox.onnx", digest.upper(), cache_dir=cache, name="my-yolox",
                      licence="Apache-2.0")
    assert info.path == cache / "my-yolox.onnx"
    assert (info.task, info.family, info.origin) == ("detect", "yolox", "pulled")
    assert files_in(cache) == ["index.json", "my-yolox.onnx"]
    index = json.loads((cache / "index.json").read_text(encoding="utf-8"))
    assert index == {"my-yolox": {
        "file": "my-yolox.onnx", "task": "detect", "family": "yolox", "labels": None, "licence": "Apache-2.0",
        "sha256": digest, "url": f"{base}/yolox.onnx"}}
    assert "my-yolox" in [m.name for m in list_models(cache)]
    assert isinstance(load_model("my-yolox", cache_dir=cache), Detector)
    assert "100%" in capsys.readouterr().err  # the progress bar went to stderr


def test_pull_classifier_recognises_task_and_keeps_other_entries(served, tmp_path):
    base, root = served
    cache = tmp_path / "cache"
    pull_model(f"{base}/yolox.onnx", sha256_of(root / "yolox.onnx"), cache_dir=cache, progress=False)
    labels = tmp_path / "labels.txt"
    labels.write_text("开心\n愤怒\n平静\n", encoding="utf-8")
    digest = sha256_of(root / "tiny-classifier.onnx")
    info = pull_model(f"{base}/tiny-classifier.onnx", digest, cache_dir=cache, labels=str(labels),
                      progress=False)
    assert (info.name, info.task, info.family) == ("tiny-classifier", "classify", None)
    index = json.loads((cache / "index.json").read_text(encoding="utf-8"))
    assert sorted(index) == ["tiny-classifier", "yolox"]
    assert index["tiny-classifier"]["labels"] == str(labels.resolve())
    model = load_model("tiny-classifier", cache_dir=cache)
    assert isinstance(model, Classifier)
    assert model(np.zeros((8, 8, 3), np.uint8)).classification.top_label == "愤怒"


def test_sha256_mismatch_leaves_nothing(served, tmp_path):
    base, _ = served
    cache = tmp_path / "cache"
    message = f"sha256 mismatch for {base}/yolox.onnx: expected 0{{64}}, got [0-9a-f]{{64}}"
    with pytest.raises(ModelError, match=message):
        pull_model(f"{base}/yolox.onnx", "0" * 64, cache_dir=cache, progress=False)
    assert files_in(cache) == []


@pytest.mark.parametrize("bad", ["abc", "g" * 64, "0" * 63, ""])
def test_malformed_sha256_is_refused_before_downloading(tmp_path, bad):
    with pytest.raises(InputError, match=f"sha256 must be 64 hexadecimal digits, got '{bad}'"):
        pull_model("http://127.0.0.1:9/x.onnx", bad, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_http_error_status(served, tmp_path):
    base, _ = served
    with pytest.raises(ModelError, match=f"cannot download {base}/missing.onnx: HTTP 404"):
        pull_model(f"{base}/missing.onnx", "0" * 64, cache_dir=tmp_path, progress=False)
    assert files_in(tmp_path) == []


def test_connection_refused(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/model.onnx"
    with pytest.raises(ModelError, match=f"cannot download {url}: .*Connection refused"):
        pull_model(url, "0" * 64, cache_dir=tmp_path, progress=False)
    assert files_in(tmp_path) == []


def test_timeout(tmp_path):
    """A server that accepts the connection and never answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/model.onnx"
        with pytest.raises(ModelError, match=f"cannot download {url}: timed out after 0.3 s"):
            pull_model(url, "0" * 64, cache_dir=tmp_path, timeout_s=0.3, progress=False)
    assert files_in(tmp_path) == []


def test_not_an_onnx_model(served, tmp_path):
    base, root = served
    with pytest.raises(ModelError, match=f"{base}/notes.onnx is not a loadable ONNX model"):
        pull_model(f"{base}/notes.onnx", sha256_of(root / "notes.onnx"), cache_dir=tmp_path, progress=False)
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "yolox-nano"}, "model name 'yolox-nano' is taken by a shipped model"),
    ({"name": "../evil"}, "model name must be 1–64 letters, digits"),
    ({"labels": "/nonexistent/labels.txt"}, "labels file not found"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises((InputError, ModelError), match=message):
        pull_model("http://127.0.0.1:9/x.onnx", "0" * 64, cache_dir=tmp_path / "cache", **kwargs)


def test_non_http_url_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"model URL must be http:// or https://, got 'file:///etc/x\.onnx'"):
        pull_model("file:///etc/x.onnx", "0" * 64, cache_dir=tmp_path)
