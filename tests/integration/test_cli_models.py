"""`visioncast models` and `visioncast models pull` as a user runs them, against a real HTTP server."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from cli_run import cli_env, run_cli, stderr_lines
from tests.mqtt_peers import free_port

from local_http import serve_directory
from visioncast.models import choice as engine_choice
from visioncast.models import load_model
from visioncast.models.choice import EngineChoice, cached_choice, candidates
from visioncast.models.registry import DATA


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("www")
    shutil.copy(DATA / "yolox_nano_416_coco.onnx", root / "yolox.onnx")
    with serve_directory(root) as base:
        yield base, hashlib.sha256((root / "yolox.onnx").read_bytes()).hexdigest()


def cache_files(home) -> list[str]:
    cache = home / "cache" / "visioncast" / "models"
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_models_lists_the_shipped_models(tmp_path):
    proc = run_cli("models", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert rows[0] == ["NAME", "TASK", "FAMILY", "INPUT", "ENGINE", "LICENCE", "SIZE", "ORIGIN"]
    assert ["yolox-nano", "detect", "yolox", "416x416", "onnxruntime", "Apache-2.0", "3.7", "MB",
            "shipped"] in rows
    assert ["resnet56-cifar10", "classify", "-", "32x32", "onnxruntime", "BSD-2-Clause", "3.4", "MB",
            "shipped"] in rows
    assert ["yunet", "face", "yunet", "any", "size", "onnxruntime", "MIT", "0.2", "MB", "shipped"] in rows


def test_models_says_what_engine_auto_chose(tmp_path, monkeypatch):
    """With engine auto (the default), a model not measured yet says so; once loaded (every candidate
    measured: this test undoes the suite's pin to the reference), its row names the choice."""
    monkeypatch.setattr(engine_choice, "candidates", candidates)  # imported before the suite's pin
    monkeypatch.setattr(engine_choice, "_MEMO", {})
    env = cli_env(tmp_path, VISIONCAST_MODELS__ENGINE="auto")
    before = run_cli("models", cwd=tmp_path, env=env)
    assert before.returncode == 0, before.stderr
    assert "auto: measured at first load" in before.stdout.splitlines()[1]
    cache = tmp_path / "cache" / "visioncast" / "models"
    load_model("yolox-nano", engine="auto", cache_dir=cache)  # measures the engines, stores the choice
    choice = cached_choice(DATA / "yolox_nano_416_coco.onnx", cache)
    assert isinstance(choice, EngineChoice)
    assert len(choice.cpu_ms) >= 2, choice  # onnxruntime and OpenVINO (a test extra) both measured
    after = run_cli("models", cwd=tmp_path, env=env)
    assert f"{choice.label} (auto)" in after.stdout.splitlines()[1]


def test_pull_then_list_then_detect(served, data_dir, tmp_path):
    base, digest = served
    proc = run_cli("models", "pull", f"{base}/yolox.onnx", "--sha256", digest, "--name", "nano-copy",
                   "--licence", "Apache-2.0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "100%" in proc.stderr  # the progress bar
    assert "pulled nano-copy" in proc.stdout
    assert cache_files(tmp_path) == ["index.json", "nano-copy.onnx"]
    index_path = tmp_path / "cache" / "visioncast" / "models" / "index.json"
    index = json.loads(index_path.read_text(encoding="utf-8"))
    assert index["nano-copy"]["sha256"] == digest
    assert index["nano-copy"]["task"] == "detect"

    listed = run_cli("models", cwd=tmp_path)
    assert ["nano-copy", "detect", "yolox", "416x416", "onnxruntime", "Apache-2.0", "3.7", "MB",
            "pulled"] in [
        line.split() for line in listed.stdout.splitlines()]

    detected = run_cli("detect", data_dir / "bus.jpg", "-m", "nano-copy", "--json", "--no-save", cwd=tmp_path)
    assert detected.returncode == 0, detected.stderr
    payload = json.loads(detected.stdout)
    assert payload["model"] == "nano-copy"
    assert payload["detections"][0]["label"] == "bus"


def test_pull_with_wrong_sha256_leaves_nothing(served, tmp_path):
    base, digest = served
    wrong = digest[::-1]
    proc = run_cli("models", "pull", f"{base}/yolox.onnx", "--sha256", wrong, cwd=tmp_path)
    assert proc.returncode == 1
    assert stderr_lines(proc)[-1] == (f"visioncast: error: sha256 mismatch for {base}/yolox.onnx: "
                                      f"expected {wrong}, got {digest}")
    assert "Traceback" not in proc.stderr
    assert cache_files(tmp_path) == []


@pytest.mark.parametrize("case", ["404", "refused"])
def test_pull_failures_give_one_line(served, tmp_path, case):
    base, digest = served
    url = f"{base}/nothing-here.onnx" if case == "404" else f"http://127.0.0.1:{free_port()}/m.onnx"
    proc = run_cli("models", "pull", url, "--sha256", digest, cwd=tmp_path)
    assert proc.returncode == 1
    lines = stderr_lines(proc)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"visioncast: error: cannot download {url}: ")
    assert ("HTTP 404" if case == "404" else "Connection refused") in lines[0]
    assert cache_files(tmp_path) == []


def test_pull_usage_error(tmp_path):
    proc = run_cli("models", "pull", "http://127.0.0.1:9/m.onnx", cwd=tmp_path)
    assert proc.returncode == 2
    assert "the following arguments are required: --sha256" in proc.stderr
