"""Issue 12's input cases at the command line, as a user runs them (real subprocesses, real models): a phone's
portrait photo through ``detect`` and ``predict``, a folder batch that meets an image no model can take, and
a port out of range — one line each, never a traceback."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from tests.apps import app_for

from visioncast.server.health import warm_up
from visioncast.server.wsgi import HttpServer

TIMEOUT_S = 60  # a subprocess that loads a model on two shared cores


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "visioncast", *args], capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """bus.jpg as a phone stores a portrait photo: pixels sideways, EXIF orientation 6 to turn them."""
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path_factory.mktemp("portrait") / "portrait.jpg"
    Image.open(data_dir / "bus.jpg").transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    app = app_for(tmp_path_factory.mktemp("predict"))
    warm_up(app)
    with HttpServer(app, "127.0.0.1", 0, workers=4) as http:
        yield http.url


def test_detect_takes_a_portrait_photo_upright(portrait: Path) -> None:
    done = cli("detect", str(portrait), "--json", "--no-save")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["width"], result["height"]) == (810, 1080)
    assert result["detections"][0]["label"] == "bus"


def test_predict_takes_a_portrait_photo_upright(portrait: Path, server: str) -> None:
    done = cli("predict", str(portrait), "--server", server, "--json", "--token", "unused-on-loopback")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["width"], result["height"]) == (810, 1080)
    assert result["detections"][0]["label"] == "bus"


def test_a_folder_batch_goes_on_past_an_image_no_model_can_take(tmp_path: Path, data_dir: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    buf = io.BytesIO()
    Image.new("RGB", (2000, 2), (10, 20, 30)).save(buf, "PNG")
    (folder / "a_thin.png").write_bytes(buf.getvalue())
    (folder / "b_bus.jpg").write_bytes((data_dir / "bus.jpg").read_bytes())
    done = cli("detect", str(folder), "--no-save")
    assert done.returncode == 1
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 1
    assert "a_thin.png' is 2000×2 pixels: too long and thin for a model" in errors[0]
    assert "Traceback" not in done.stderr
    assert "b_bus.jpg: 5 detections" in done.stdout


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_serve_refuses_a_port_out_of_range_in_one_line(port: str) -> None:
    done = cli("serve", "--port", port)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # no traceback
    assert lines[0].startswith("visioncast: error: ")
    assert "server.port" in lines[0]
    assert f"got {port}" in lines[0]
