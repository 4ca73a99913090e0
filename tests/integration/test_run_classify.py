"""`visioncast run` with a classify model: the same pipeline as detection, every frame's predictions in the
JSON lines, top-label counts in the statistics, labels pushed to a real Mosquitto (real model, real clip)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import validate
from tests.integration.cli_run import cli_env, run_cli
from tests.mqtt_peers import Subscriber, free_port, mosquitto

from visioncast.core.payload import RESULT_SCHEMA
from visioncast.models.labels import CIFAR10

FRAMES = 70


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_run_classifies_every_frame_and_pushes_its_label(data_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "out.jsonl"
    with mosquitto(tmp_path, port):
        sub = Subscriber(port, "visioncast/clip/#")
        try:
            proc = run_cli("run", "-i", data_dir / "vtest_clip.avi", "-m", "resnet56-cifar10", "--jsonl", out,
                           "--name", "clip", "--mqtt", f"mqtt://127.0.0.1:{port}", "--quiet", cwd=tmp_path,
                           env=cli_env(tmp_path, VISIONCAST_MQTT__QOS="1"))
            assert proc.returncode == 0, proc.stderr
            sub.wait_for(lambda m: sum(t == "visioncast/clip/label" for t, _ in m) >= FRAMES)
        finally:
            sub.close()
    lines = read_jsonl(out)
    frames = [line for line in lines if "result" in line]
    assert [f["result"]["frame"] for f in frames] == list(range(FRAMES))
    tops = []
    for line in frames:
        validate(line["result"], RESULT_SCHEMA)
        predictions = line["result"]["predictions"]
        assert line["result"]["task"] == "classify"
        assert len(predictions) == 5
        assert all(p["label"] in CIFAR10 for p in predictions)
        tops.append(predictions[0]["label"])
        assert line["stats"]["counts"] == {predictions[0]["label"]: 1}
    totals = frames[-1]["stats"]["totals"]
    assert sum(totals.values()) == FRAMES
    assert totals == {label: tops.count(label) for label in set(tops)}
    assert frames[-1]["stats"]["lines"] == frames[-1]["stats"]["zones"] == {}
    assert [p.decode() for p in sub.payloads("visioncast/clip/label")] == tops
    pushed = [json.loads(p) for p in sub.payloads("visioncast/clip/result")]
    assert [r["frame"] for r in pushed] == list(range(FRAMES))
    assert [r["predictions"][0]["label"] for r in pushed] == tops
    assert f"{FRAMES} frames" in proc.stdout
    assert "frames by top label: " in proc.stdout
    assert f"MQTT 127.0.0.1:{port}: " in proc.stdout


def test_run_classifies_a_folder_of_cifar_images(data_dir: Path, tmp_path: Path) -> None:
    """The 20 committed CIFAR-10 test images (true class in the file name) read as a folder source."""
    out = tmp_path / "cifar.jsonl"
    proc = run_cli("run", "-i", data_dir / "cifar10", "-m", "resnet56-cifar10", "--jsonl", out, "--quiet",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    frames = [line for line in read_jsonl(out) if "result" in line]
    truth = [CIFAR10[int(p.stem.rsplit("_", 1)[1])] for p in sorted((data_dir / "cifar10").glob("*.png"))]
    tops = [f["result"]["predictions"][0]["label"] for f in frames]
    assert len(tops) == len(truth) == 20
    assert sum(t == p for t, p in zip(truth, tops, strict=True)) >= 18  # resnet56: 94 % on CIFAR-10


def test_lines_and_zones_need_a_detect_model(data_dir: Path, tmp_path: Path) -> None:
    proc = run_cli("run", "-i", data_dir / "vtest_clip.avi", "-m", "resnet56-cifar10", "--line", "0,1,2,3",
                   cwd=tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == (
        "visioncast: error: lines and zones count boxes: they need a detect model, got a classify model")
