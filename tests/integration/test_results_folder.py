"""The results folder: saved images are served, traversal in any encoding is refused, size/age limits hold."""

from __future__ import annotations

import os
import socket
import time

import pytest

from visioncast.server.results import ResultsFolder, results_of
from visioncast.server.wsgi import HttpServer

JPEG = b"\xff\xd8\xff\xe0" + b"x" * 100 + b"\xff\xd9"


@pytest.fixture
def app(tmp_path, make_app):
    (tmp_path / "secret.jpg").write_bytes(b"outside the results folder")
    (tmp_path / "passwd").write_text("root:x:0:0")
    return make_app(tmp_path / "data", server__results_dir=str(tmp_path / "results"))


@pytest.fixture
def saved(app) -> str:
    return results_of(app).save(JPEG)


def test_a_saved_result_is_served(app, saved):
    with app.test_client().get(f"/results/{saved}") as resp:
        assert resp.status_code == 200
        assert resp.data == JPEG
        assert resp.mimetype == "image/jpeg"


TRAVERSALS = [
    ("/results/../secret.jpg", 404),
    ("/results/..%2fsecret.jpg", 404),
    ("/results/%2e%2e/secret.jpg", 404),
    ("/results/%2e%2e%2fsecret.jpg", 404),
    ("/results/%2E%2E%2Fsecret.jpg", 404),
    ("/results/..%252fsecret.jpg", 400),  # double encoded: '%' is left after one decoding
    ("/results/%252e%252e%252fsecret.jpg", 400),
    ("/results/..%5csecret.jpg", 400),  # backslash
    ("/results/..\\secret.jpg", 400),
    ("/results/%5c..%5csecret.jpg", 400),
    ("/results/x.jpg%00.png", 400),  # NUL byte
    ("/results//etc/passwd", 404),
    ("/results/%2fetc%2fpasswd", 404),
    ("/results/%2Fetc/hostname.jpg", 404),
    ("/results/sub/../../secret.jpg", 404),
    ("/results/./../secret.jpg", 404),
    ("/results/..%c0%afsecret.jpg", 404),  # overlong UTF-8 slash
    ("/results/....//secret.jpg", 404),
    ("/results/link.jpg", 404),  # a symlink inside the folder pointing outside
    ("/results/inner-link.jpg", 404),  # a symlink to a file inside the folder: still refused
    ("/results/", 404),
    ("/results/.", 404),
    ("/results/passwd", 404),
]


@pytest.mark.parametrize(("path", "status"), TRAVERSALS, ids=[t[0] for t in TRAVERSALS])
def test_traversal_is_refused(app, saved, tmp_path, path, status):
    root = tmp_path / "results"
    os.symlink(tmp_path / "secret.jpg", root / "link.jpg")
    os.symlink(root / saved, root / "inner-link.jpg")
    with app.test_client().get(path) as resp:
        assert resp.status_code == status, path
        assert b"outside the results folder" not in resp.data
        assert b"root:x" not in resp.data


def test_traversal_through_a_real_socket(app, saved, tmp_path):
    """Raw request lines reach the server undecoded and unnormalised (no client cleans them up)."""
    with HttpServer(app, "127.0.0.1", 0, workers=2) as server:
        # the server itself answers 400 to an encoded slash in the path (server/http1.py)
        cases = {"/results/../secret.jpg": 404, "/results/..%2fsecret.jpg": 400,
                 "/results/%2e%2e%5csecret.jpg": 400, "/results/..%252fsecret.jpg": 400,
                 f"/results/{saved}": 200}
        for raw, expected in cases.items():
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(f"GET {raw} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            status = int(answer.split(b" ", 2)[1])
            assert status == expected, raw
            assert b"outside the results folder" not in answer


def test_prune_by_size_keeps_the_newest(tmp_path):
    folder = ResultsFolder(tmp_path, max_bytes=2500, max_age_s=3600)
    names = [folder.save(b"x" * 1000) for _ in range(5)]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(names[-2:])
    assert folder.pruned == 3


def test_prune_by_age(tmp_path):
    folder = ResultsFolder(tmp_path, max_bytes=10**9, max_age_s=60)
    old = folder.save(b"old")
    past = time.time() - 120
    os.utime(tmp_path / old, (past, past))
    (tmp_path / "notes.txt").write_text("not ours: never pruned")
    new = folder.save(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([new, "notes.txt"])
    assert folder.pruned == 1


def test_pruned_count_is_in_metrics(app, saved):
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert "visioncast_results_pruned_total 0.0" in text
