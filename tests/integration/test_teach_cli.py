"""`visioncast teach` as a user runs it: folders in, held-out report out, a model used by name afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.integration.cli_run import cli_env, run_cli
from tests.teach_samples import DATA, class_samples, pose_samples, write_folders


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("samples")
    folders = write_folders(root, class_samples(10))
    (folders["公交车"] / "notes.txt").write_text("not an image", encoding="utf-8")
    (folders["公交车"] / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folders


def test_teach_from_folders_then_classify_by_name(folders: dict[str, Path], tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    args = [arg for label, folder in folders.items() for arg in ("--class", f"{label}={folder}")]
    done = run_cli("teach", "课堂", *args, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "公交车: 10 images" in out
    assert "skipped notes.txt (text)" in out
    assert "skipped broken.jpg (corrupt)" in out
    assert "held-out accuracy:" in out
    assert "saved 课堂" in out
    listed = run_cli("models", cwd=tmp_path, env=env)
    assert "课堂" in listed.stdout
    assert "taught" in listed.stdout
    answer = run_cli("classify", "-m", "课堂", DATA / "bus.jpg", "--json", cwd=tmp_path, env=env)
    assert answer.returncode == 0, answer.stderr
    payload = json.loads(answer.stdout)
    assert payload["predictions"][0]["label"] == "公交车"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--class", "only=DIR0"], "at least 2 classes"),
        (["--class", "a=DIR0", "--class", "a=DIR1"], "given twice"),
        (["--class", "a=DIR0", "--class", "b=/no/such/folder"], "folder not found"),
        (["--class", "a=DIR0", "--class", "b"], "must be LABEL=DIR"),
    ],
)
def test_bad_classes_get_one_line_and_nothing_is_saved(
        folders: dict[str, Path], tmp_path: Path, extra: list[str], message: str) -> None:
    dirs = list(folders.values())
    extra = [a.replace("DIR0", str(dirs[0])).replace("DIR1", str(dirs[1])) for a in extra]
    done = run_cli("teach", "x", *extra, cwd=tmp_path)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.rglob("x.onnx"))


def test_teach_a_pose_kind_from_folders(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    folders = write_folders(tmp_path / "poses", pose_samples(8))
    args = [arg for label, folder in folders.items() for arg in ("--class", f"{label}={folder}")]
    done = run_cli("teach", "poses", "--kind", "pose", *args, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "saved poses" in done.stdout
    answer = run_cli("classify", "-m", "poses", DATA / "squat.jpg", "--json", cwd=tmp_path, env=env)
    assert json.loads(answer.stdout)["predictions"][0]["label"] == "蹲"
