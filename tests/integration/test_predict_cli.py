"""`visioncast predict` against a real server on 127.0.0.1 (in a thread), and its failure messages."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import sys
import time

import cv2
import pytest
from PIL import Image
from tests.apps import app_for
from tests.mqtt_peers import free_port

from visioncast.cli.infer import sample_image
from visioncast.cli.main import main as cli_main
from visioncast.server.health import warm_up
from visioncast.server.wsgi import HttpServer

WAIT_S = 10


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    app = app_for(tmp_path_factory.mktemp("predict"))
    warm_up(app)
    with HttpServer(app, "127.0.0.1", 0, workers=4) as http:
        yield http.url


def test_predict_prints_the_bus_and_the_people(server, data_dir, capsys):
    assert cli_main(["predict", str(data_dir / "bus.jpg"), "--server", server]) == 0
    out = capsys.readouterr().out
    assert "bus.jpg: 5 detections (yolox-nano" in out
    rows = [line.split()[0] for line in out.splitlines()[1:]]
    assert rows[0] == "bus"
    assert rows.count("person") == 4


def test_predict_json_equals_the_local_detect_command(server, data_dir, capsys):
    image = str(data_dir / "bus.jpg")
    assert cli_main(["predict", image, "--server", server, "--json", "--conf", "0.5"]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert cli_main(["detect", image, "--json", "--no-save", "--conf", "0.5"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert remote["detections"] == local["detections"]
    assert len(remote["detections"]) == 4


def test_predict_classify_top(server, data_dir, capsys):
    image = str(data_dir / "cifar10" / "cifar10_01_8.png")
    assert cli_main(["predict", image, "--server", server, "--task", "classify", "--top", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("ship (resnet56-cifar10, " + out[0].rsplit(", ", 1)[1])
    assert len(out) == 3


@pytest.mark.parametrize(("task", "image"), [("pose", "squat.jpg"), ("face", "faces.jpg"),
                                             ("segment", "squat.jpg")])
def test_predict_pose_face_and_segment_equal_the_local_commands(server, data_dir, capsys, task, image):
    path = str(data_dir / image)
    assert cli_main(["predict", path, "--server", server, "--task", task, "--json"]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert cli_main([task, path, "--json", "--no-save"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert remote["task"] == task
    assert remote["detections"] == local["detections"]
    assert remote["detections"]
    assert all(("polygons" if task == "segment" else "keypoints") in d for d in remote["detections"])


def test_draw_without_a_display_saves_and_says_why(server, data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli_main(["predict", str(data_dir / "bus.jpg"), "--server", server, "--draw"]) == 0
    out = capsys.readouterr().out
    assert "saved visioncast_out/bus.jpg (cannot show it: no display" in out
    assert cv2.imread(str(tmp_path / "visioncast_out" / "bus.jpg")).shape == (1080, 810, 3)


def test_save_writes_the_annotated_image(server, data_dir, tmp_path, capsys):
    target = tmp_path / "annotated.jpg"
    assert cli_main(["predict", str(data_dir / "zidane.jpg"), "--server", server, "--save", str(target)]) == 0
    assert f"saved {target}" in capsys.readouterr().out
    assert cv2.imread(str(target)).shape == (720, 1280, 3)


def test_an_error_answer_prints_status_and_message(server, tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    assert cli_main(["predict", str(text), "--server", server]) == 1
    err = capsys.readouterr().err
    assert "the server answered 415 image_unsupported:" in err
    assert "must be a JPEG/PNG/BMP/WebP/TIFF/HEIC/AVIF image, got text" in err


def test_phone_photos_through_the_server_equal_the_local_command(server, data_dir, tmp_path, capsys):
    """A HEIC and a motion photo (JPEG + MP4) are read by the server as `detect` reads them here."""
    for name, people in (("zidane.heic", 2), ("motion_photo.jpg", 1)):
        image = str(data_dir / name)
        assert cli_main(["predict", image, "--server", server, "--json"]) == 0
        remote = json.loads(capsys.readouterr().out)
        assert cli_main(["detect", image, "--json", "--no-save"]) == 0
        assert remote["detections"] == json.loads(capsys.readouterr().out)["detections"]
        assert sum(d["label"] == "person" for d in remote["detections"]) == people
    target = tmp_path / "drawn"
    heic = str(data_dir / "zidane.heic")
    assert cli_main(["predict", heic, "--server", server, "--save", str(target)]) == 0
    assert cv2.imread(str(target / "zidane.jpg")).shape == (720, 1280, 3)  # drawn locally, saved as JPEG


def test_a_folder_batch_ends_with_a_summary_and_fails_when_nothing_was_processed(server, data_dir, tmp_path,
                                                                                   capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "a.gif")
    assert cli_main(["predict", str(folder), "--server", server]) == 1
    err = capsys.readouterr().err
    assert "error: no image was processed (0 images, 1 skipped: a.gif (unsupported format))" in err
    (folder / "b.heic").write_bytes((data_dir / "zidane.heic").read_bytes())
    assert cli_main(["predict", str(folder), "--server", server]) == 1  # one was skipped
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "1 image, 1 skipped: a.gif (unsupported format)"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli_main(["predict", str(empty), "--server", server]) == 1
    assert f"no image was processed (no files in '{empty}')" in capsys.readouterr().err


def test_a_url_that_is_not_the_api_is_one_line_not_a_page(server, capsys):
    assert cli_main(["predict", "--sample", "--server", f"{server}/nope"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("messi5.jpg: the server answered 404 NOT FOUND (text/html, not an answer of "
                        "visioncast's API: check --server, e.g. http://127.0.0.1:5000)")
    assert len(err.splitlines()) == 1


def test_the_sample_of_classify_is_a_cifar10_image(server, capsys):
    assert cli_main(["predict", "--sample", "--task", "classify", "--server", server, "--top", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith(str(sample_image("classify")) + ": cat (")
    assert sample_image("classify").name == "cifar10-cat.png"


def test_no_server_running(data_dir, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert cli_main(["predict", str(data_dir / "bus.jpg"), "--server", url]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"visioncast: error: no visioncast server at {url} — start one with `visioncast serve`"


def test_a_server_that_does_not_answer_times_out(data_dir, capsys):
    with socket.socket() as silent:  # accepts connections (kernel backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        code = cli_main(["predict", str(data_dir / "bus.jpg"), "--server", url, "--timeout", "0.5"])
    assert code == 1
    assert f"the visioncast server at {url} did not answer within 0.5 s" in capsys.readouterr().err


def test_a_bad_server_url(data_dir, capsys):
    assert cli_main(["predict", str(data_dir / "bus.jpg"), "--server", "127.0.0.1:5000"]) == 1
    assert "--server must be a URL like http://127.0.0.1:5000" in capsys.readouterr().err


def _read_until(fd: int, marker: bytes, seen: bytearray) -> str:
    deadline = time.monotonic() + WAIT_S
    while marker not in seen:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        if not ready:
            raise AssertionError(f"no {marker!r} within {WAIT_S} s; got {bytes(seen)[-400:]!r}")
        try:
            seen += os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
    text = bytes(seen).decode(errors="replace")
    seen.clear()
    return text


def test_the_prompt_loop_in_a_pseudo_terminal(server, data_dir):
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "visioncast", "predict", "--server", server],
                            stdin=child_fd, stdout=child_fd, stderr=child_fd, close_fds=True)
    os.close(child_fd)
    seen = bytearray()
    try:
        assert "Image path" in _read_until(main_fd, b"q = quit): ", seen)
        os.write(main_fd, f"{data_dir / 'bus.jpg'}\n".encode())
        answer = _read_until(main_fd, b"q = quit): ", seen)
        assert "5 detections" in answer
        assert "bus " in answer
        os.write(main_fd, b"\n")  # Enter: the shipped sample photo
        assert "sports ball" in _read_until(main_fd, b"q = quit): ", seen)
        os.write(main_fd, b"/no/such/file.jpg\n")
        assert "cannot read image '/no/such/file.jpg'" in _read_until(main_fd, b"q = quit): ", seen)
        os.write(main_fd, b"q\n")
        assert proc.wait(WAIT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT_S)
        os.close(main_fd)
