"""visioncast on a real two-node Ray cluster started by the test on this machine (``ray.cluster_utils``):
Serve replicas behind the HTTP API and the KServe v2 routes, a replica killed mid-load, pipelines (a video
job, a replica killed under one) on RayRuntime's async queue, one pipeline actor per source pushing to one
Mosquitto, and a lost actor started again. One cluster per module (starting one takes ~10 s)."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import threading
import time
from dataclasses import replace

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import requests
from tests.integration.cli_run import cli_env
from tests.mqtt_peers import Subscriber, free_port, mosquitto
from tests.ray_cluster import MARKS, ray_or_skip, two_nodes

from visioncast import config
from visioncast.cli.main import build_parser
from visioncast.cli.main import main as cli_main
from visioncast.cli.options import load_config
from visioncast.cli.scale import ACTOR_PREFIX
from visioncast.cli.serve import ServeContext, config_overrides, load_models, start_ray
from visioncast.core.payload import result_to_payload
from visioncast.core.types import Result
from visioncast.errors import ModelError
from visioncast.models.registry import find_model
from visioncast.pipeline.build import open_pipeline
from visioncast.scale.cluster import Replicas
from visioncast.scale.deployment import (
    APP_PREFIX,
    JOBS_PER_REPLICA,
    UNKNOWN_TASK,
    RayRuntime,
    ServeDeployments,
)
from visioncast.server.app import create_app
from visioncast.server.health import warm_up
from visioncast.server.wsgi import HttpServer
from visioncast.sinks.jsonl import JsonlSink
from visioncast.sources.video import open_video
from visioncast.tasks import run_stages

pytestmark = MARKS
ray = ray_or_skip()

CPUS_PER_NODE = 1
REPLICA_CPUS = 0.25  # 2 models × 2 replicas × 0.25 leaves a CPU for the pipeline actors
WAIT_S = 60.0  # a 70-frame clip through the cluster on 2 shared cores; Ray itself needs seconds to react
CLIP_FRAMES = {"vtest_clip.avi": 70, "vtest_clip.mp4": 36}


@pytest.fixture(scope="module")
def cluster():
    with two_nodes(CPUS_PER_NODE) as made:
        yield made


def test_replicas_the_cluster_cannot_hold_fail_with_a_clear_message(cluster):
    # first in the module: it deploys (and removes) an application the `served` fixture deploys afterwards
    deployments = ServeDeployments(Replicas(1, 1), replica_cpus=4 * CPUS_PER_NODE, deploy_timeout_s=5.0)
    t0 = time.monotonic()
    with pytest.raises(ModelError, match=r"replica\(s\) of 4 CPU did not start within 5 s"):
        deployments.open(find_model("resnet56-cifar10"))
    # bounded, not for ever: Serve's first start in the cluster and removing the app took 28 s under load
    assert time.monotonic() - t0 < 60
    assert f"{APP_PREFIX}resnet56-cifar10" not in ray.serve.status().applications


@pytest.fixture(scope="module")
def served(cluster, tmp_path_factory):
    """An app whose models run in Serve deployments of 2 replicas, on a real HTTP server."""
    deployments = ServeDeployments(Replicas(2, 2), replica_cpus=REPLICA_CPUS, timeout_s=8.0)
    app = create_app(config.load(env={}, overrides={"data_dir": str(tmp_path_factory.mktemp("ray"))}))
    svc = app.extensions["visioncast"]
    svc.runtime_opener = deployments.open
    warm_up(app)
    with HttpServer(app, "127.0.0.1", 0, workers=8) as server:
        yield server.url, svc, deployments
    svc.close()
    deployments.close()


def test_the_api_answers_from_replicas_on_both_nodes(served, data_dir, detector):
    url, svc, deployments = served
    runtime = svc.detector().runtime
    assert isinstance(runtime, RayRuntime)
    with open(data_dir / "bus.jpg", "rb") as f:
        resp = requests.post(f"{url}/api/v1/detect", files={"image": f}, timeout=10)
    assert resp.status_code == 200
    local = result_to_payload(detector(__import__("cv2").imread(str(data_dir / "bus.jpg"))))
    assert [d["label"] for d in resp.json()["detections"]] == [d["label"] for d in local["detections"]]
    np.testing.assert_allclose([d["box"] for d in resp.json()["detections"]],
                               [d["box"] for d in local["detections"]], atol=0.2)
    handle = deployments.apps["yolox-nano"]
    nodes = {handle.node.remote().result(timeout_s=10, _skip_asyncio_check=True) for _ in range(30)}
    assert nodes == {n["NodeID"] for n in ray.nodes() if n["Alive"]}


def test_a_request_s_postprocess_runs_on_the_replica_and_only_the_result_travels(served, data_dir, detector):
    """run_stages on a RayRuntime: the replica decodes YOLOX's outputs, the server gets the Result (the
    same as the local model's), the task travels once per replica and is asked for again by one that does
    not know it; a task that cannot be pickled runs its stages on the server."""
    _, svc, deployments = served
    task = svc.detector()
    image = cv2.imread(str(data_dir / "bus.jpg"))
    calls = task.runtime.calls
    remote = run_stages(task, image)
    assert task.runtime.calls == calls + 1  # one call: engine and postprocess together
    local = detector(image)
    assert remote.detections.labels == local.detections.labels
    np.testing.assert_allclose(remote.detections.xyxy, local.detections.xyxy, atol=0.2)
    assert set(remote.timings_ms) == {"preprocess", "inference", "postprocess"}
    handle = deployments.apps["yolox-nano"]
    digest, blob = task.runtime._shipped(task)
    prepared = task.prepare(image)
    light = replace(prepared, feeds={})
    wire = task.runtime.wire(prepared.feeds)
    sent_back = handle.run_task.remote(digest, blob, wire, light).result(timeout_s=30,
                                                                         _skip_asyncio_check=True)
    assert isinstance(sent_back, Result)
    assert len(pickle.dumps(sent_back)) < 10_000  # not 1.2 MB of tensor
    stranger = handle.run_task.remote("0" * 24, None, wire, light).result(timeout_s=30,
                                                                          _skip_asyncio_check=True)
    assert stranger == UNKNOWN_TASK

    class Locked:  # a task holding a lock (MoveNet's follower does) cannot travel
        runtime = task.runtime
        guard = threading.Lock()
    assert task.runtime.run_task(Locked(), prepared) is None


def test_kserve_v2_through_ray_equals_onnxruntime(served):
    http = pytest.importorskip("tritonclient.http")
    url, _, _ = served
    client = http.InferenceServerClient(url.split("://", 1)[1], network_timeout=10)
    x = np.random.default_rng(3).random((4, 3, 32, 32), dtype=np.float32)
    tensor = http.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    got = client.infer("resnet56-cifar10", [tensor]).as_numpy("logits")
    session = ort.InferenceSession(str(find_model("resnet56-cifar10").path),
                                   providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(got, session.run(None, {"input": x})[0], rtol=1e-5, atol=1e-4)


def _replica_actors(app_name: str) -> list[str]:
    return [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
            if a["name"].startswith("SERVE_REPLICA::") and app_name in a["name"]]


def test_a_replica_killed_mid_load_costs_at_most_clear_503s(served, data_dir):
    url, svc, _ = served
    image = (data_dir / "bus.jpg").read_bytes()
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        for _ in range(n):
            resp = requests.post(f"{url}/api/v1/detect", data=image, headers={"Content-Type": "image/jpeg"},
                                 timeout=10)
            with lock:
                answers.append((resp.status_code, resp.json()))

    replicas = _replica_actors(f"{APP_PREFIX}yolox-nano")
    assert len(replicas) == 2
    threads = [threading.Thread(target=client, args=(12,)) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(answers) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    ray.kill(ray.get_actor(replicas[0], namespace="serve"), no_restart=True)
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    statuses = [s for s, _ in answers]
    assert len(statuses) == 48
    assert set(statuses) <= {200, 503}, statuses
    assert all("replica" in body["message"] for s, body in answers if s == 503)
    assert statuses.count(200) >= 40, statuses
    runtime = svc.detector().runtime
    print(f"after the kill: {statuses.count(503)} × 503, {runtime.retried} retried, {runtime.failed} failed")
    resp = requests.post(f"{url}/api/v1/detect", data=image, headers={"Content-Type": "image/jpeg"},
                         timeout=10)
    assert resp.status_code == 200


def _local_counts(detector, clip) -> list[int]:
    with open_video(clip) as video:
        return [len(detector(frame.image).detections) for frame in video]


def test_an_upload_job_under_ray_finds_what_the_local_model_finds(served, data_dir, detector):
    url, svc, _ = served
    runtime = svc.detector().runtime
    calls = runtime.calls
    with open(data_dir / "vtest_clip.avi", "rb") as f:
        answer = requests.post(f"{url}/api/v1/videos", files={"video": f}, timeout=10)
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["id"]
    deadline = time.monotonic() + WAIT_S
    while (job := requests.get(f"{url}/api/v1/videos/{job_id}", timeout=10).json())["state"] not in (
            "done", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job["state"] == "done", job
    assert job["frames_done"] == CLIP_FRAMES["vtest_clip.avi"]
    results = requests.get(f"{url}/api/v1/videos/{job_id}/results", timeout=10).json()["results"]
    assert [r["frame"] for r in results] == list(range(CLIP_FRAMES["vtest_clip.avi"]))
    assert [len(r["detections"]) for r in results] == _local_counts(detector, data_dir / "vtest_clip.avi")
    assert runtime.calls - calls == CLIP_FRAMES["vtest_clip.avi"]  # every frame went through the replicas


def test_the_async_queue_keeps_its_contract(served):
    _, svc, _ = served
    runtime = svc.classifier().runtime
    rng = np.random.default_rng(5)
    feeds = [{"input": rng.random((1, 3, 32, 32), dtype=np.float32)} for _ in range(12)]
    got: dict[int, np.ndarray] = {}

    def keep(outputs, i):
        if i == 7:
            raise ValueError("a sink broke")  # a failing callback is counted, not raised on the thread
        got[i] = outputs[0]

    with runtime.open_async(0, keep) as jobs:
        assert jobs.jobs == 2 * JOBS_PER_REPLICA  # ≤ 0: a few per replica
        for i, f in enumerate(feeds):
            jobs.submit(f, i)
        with pytest.raises(ModelError, match="1 Ray async job") as caught:
            jobs.wait_all()
        assert isinstance(caught.value.__cause__, ValueError)
        assert (jobs.submitted, jobs.completed, jobs.failed) == (12, 11, 1)
        jobs.submit({"input": np.zeros((1, 3, 7, 7), np.float32)}, 99)  # the replica's engine refuses it
        with pytest.raises(ModelError, match="failed on its replica"):
            jobs.wait_all()
    session = ort.InferenceSession(str(find_model("resnet56-cifar10").path),
                                   providers=["CPUExecutionProvider"])
    assert sorted(got) == [i for i in range(12) if i != 7]
    for i, out in got.items():
        np.testing.assert_allclose(out, session.run(None, feeds[i])[0], rtol=1e-5, atol=1e-4)


def test_a_pipeline_keeps_frame_order_when_a_replica_is_killed(served, data_dir, detector, tmp_path):
    _, svc, _ = served
    model = svc.detector()  # the server's detector: RayRuntime on the 2 replicas, as a stream uses it
    clip = data_dir / "vtest_clip.avi"
    cfg = config.load(env={}).pipeline
    pipeline = open_pipeline(str(clip), model, cfg, sinks=[JsonlSink(tmp_path / "out.jsonl")]).start()
    deadline = time.monotonic() + WAIT_S
    while pipeline.frames_out < 10 and pipeline.alive and time.monotonic() < deadline:
        time.sleep(0.02)
    replicas = _replica_actors(f"{APP_PREFIX}yolox-nano")
    ray.kill(ray.get_actor(replicas[0], namespace="serve"), no_restart=True)
    assert pipeline.join(WAIT_S)
    lines = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [row["result"] for row in map(json.loads, lines) if "result" in row]
    if pipeline.error is not None:  # both tries landed on dead replicas: the run stops with a clear error
        assert isinstance(pipeline.error, ModelError), pipeline.error
        assert "replica" in str(pipeline.error)
    else:
        assert pipeline.frames_out == CLIP_FRAMES["vtest_clip.avi"]
    assert [r["frame"] for r in rows] == list(range(len(rows)))  # in order, none lost in between
    local = _local_counts(detector, clip)
    assert [len(r["detections"]) for r in rows] == local[: len(rows)]
    print(f"pipeline through a replica kill: {len(rows)} frames, retried {model.runtime.retried}, "
          f"error {pipeline.error}")


def test_one_pipeline_actor_per_source_pushing_to_one_broker(cluster, data_dir, tmp_path, capsys):
    port = free_port()
    with mosquitto(tmp_path, port):
        sub = Subscriber(port, "visioncast/#")
        try:
            code = cli_main(["run", "--ray", cluster.address, "--actor-cpus", "0.25", "--quiet",
                             "-i", str(data_dir / "vtest_clip.avi"), "-i", str(data_dir / "vtest_clip.mp4"),
                             "--max-frames", "12", "--jsonl", f"{tmp_path}/{{name}}.jsonl",
                             "-o", f"{tmp_path}/{{name}}.mp4", "--mqtt", f"mqtt://127.0.0.1:{port}"])
            sub.wait_for(lambda msgs: {t.split("/")[1] for t, _ in msgs} >= {"vtest_clip.avi",
                                                                               "vtest_clip.mp4"})
        finally:
            sub.close()
    out = capsys.readouterr().out
    assert code == 0, out
    summaries = [line for line in out.splitlines() if ": 12 frames" in line]
    assert len(summaries) == 2, out
    nodes = {line.split("(node ", 1)[1][:8] for line in summaries}
    assert len(nodes) == 2, out  # SPREAD placed one actor on each node
    for name in ("vtest_clip.avi", "vtest_clip.mp4"):
        lines = (tmp_path / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        frames = [json.loads(x) for x in lines if json.loads(x).get("type", "result") == "result"]
        assert len(frames) >= 12
        assert (tmp_path / f"{name}.mp4").stat().st_size > 1000
        assert f"saved {tmp_path / name}.mp4" in out


def test_a_source_that_fails_is_reported_and_the_others_finish(cluster, data_dir, tmp_path, capsys):
    code = cli_main(["run", "--ray", cluster.address, "--actor-cpus", "0.25", "--quiet", "--max-frames", "3",
                     "-i", str(tmp_path / "missing.mp4"), "-i", str(data_dir / "vtest_clip.mp4")])
    captured = capsys.readouterr()
    assert code == 1
    assert "missing.mp4: source not found" in captured.err
    assert "vtest_clip.mp4 (node " in captured.out
    assert ": 3 frames" in captured.out
    assert "Traceback" not in captured.err + captured.out


def _kill_when(prefix_source: str, frames: int, killed: dict[str, int]) -> None:
    """Kill the first actor of one source (ray.kill, no restart: as if its process died) once it has done
    ``frames`` frames; records how many it had done."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        names = [n for n in ray.util.list_named_actors() if n.startswith(ACTOR_PREFIX)
                 and n.endswith(prefix_source)]
        if names:
            actor = ray.get_actor(names[0])
            try:
                done = ray.get(actor.pull.remote(None), timeout=5)["counters"]["frames_out"]
            except ray.exceptions.RayError:
                done = 0
            if done >= frames:
                ray.kill(actor, no_restart=True)
                killed["frames"] = done
                return
        time.sleep(0.1)


def test_a_lost_pipeline_actor_is_started_again_and_the_other_source_goes_on(cluster, data_dir, tmp_path,
                                                                              capsys):
    killed: dict[str, int] = {}
    killer = threading.Thread(target=_kill_when, args=("-vtest_clip.avi-0", 5, killed))
    killer.start()
    # --realtime: 10 fps, so the 70-frame file is still running when its actor is killed
    code = cli_main(["run", "--ray", cluster.address, "--actor-cpus", "0.25", "--quiet", "--realtime",
                     "-i", str(data_dir / "vtest_clip.avi"), "-i", str(data_dir / "vtest_clip.mp4"),
                     "--jsonl", f"{tmp_path}/{{name}}.jsonl"])
    killer.join(WAIT_S)
    captured = capsys.readouterr()
    assert killed, captured
    assert code == 0, captured
    assert "vtest_clip.avi: actor visioncast-run-" in captured.err
    assert "lost: ActorDiedError; restarted (1/3)" in captured.err
    summary = {line.split(" (node", 1)[0]: line for line in captured.out.splitlines() if " (node " in line}
    assert ": 70 frames" in summary["vtest_clip.avi"]
    assert "restarts 1" in summary["vtest_clip.avi"]
    assert ": 36 frames" in summary["vtest_clip.mp4"]
    assert "restarts 0" in summary["vtest_clip.mp4"]
    # the file started again from its first frame and its output was written again, whole
    for name, frames in CLIP_FRAMES.items():
        lines = (tmp_path / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        written = [row["result"]["frame"] for row in map(json.loads, lines) if "result" in row]
        assert written == list(range(frames))


def test_restarts_are_bounded(cluster, data_dir, capsys):
    killed: dict[str, int] = {}
    killer = threading.Thread(target=_kill_when, args=("-vtest_clip.avi-0", 3, killed))
    killer.start()
    code = cli_main(["run", "--ray", cluster.address, "--actor-cpus", "0.25", "--quiet", "--realtime",
                     "--actor-restarts", "0", "-i", str(data_dir / "vtest_clip.avi")])
    killer.join(WAIT_S)
    captured = capsys.readouterr()
    assert killed
    assert code == 1
    assert "vtest_clip.avi: failed: vtest_clip.avi: actor visioncast-run-" in captured.out
    assert "no restart left (0 used)" in captured.out
    assert "Traceback" not in captured.err + captured.out


def test_a_missing_or_wrong_token_is_one_line_not_ray_s_retries(cluster, data_dir, tmp_path):
    # the cluster uses token authentication (tests/ray_cluster.py); HOME has no ~/.ray/auth_token
    def attempt(**extra: str) -> subprocess.Popen[str]:
        env = {k: v for k, v in cli_env(tmp_path, HOME=str(tmp_path), **extra).items()
               if not k.startswith("RAY_AUTH")}
        command = [sys.executable, "-m", "visioncast", "run", "--ray", cluster.address, "--quiet",
                   "-i", str(data_dir / "vtest_clip.avi")]
        return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, encoding="utf-8")

    missing, wrong = attempt(), attempt(VISIONCAST_RAY__AUTH_TOKEN="0" * 32)  # both wait for Ray's retries
    for proc, words in ((missing, "it asks for a token (token authentication) and none was found"),
                        (wrong, "it refused the token from ray.auth_token")):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, out + err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err  # one line, not Ray's forty of retries
        assert lines[0].startswith(f"visioncast: error: cannot join the Ray cluster at '{cluster.address}': "
                                   f"{words}"), err
        assert "0" * 32 not in out + err  # the token is never printed


def test_serve_ray_start_step_and_ctrl_c_cleanup(cluster, served, data_dir, tmp_path):
    # last in the module: it re-deploys the applications `served` made (same names), with 1 replica.
    # The [ray] section of the config file names the cluster; the --replicas flag wins over its replicas.
    toml = tmp_path / "visioncast.toml"
    toml.write_text(f'[ray]\naddress = "{cluster.address}"\nreplicas = "2"\nreplica_cpus = {REPLICA_CPUS}\n',
                    encoding="utf-8")
    args = build_parser(["serve"]).parse_args(["--config", str(toml), "serve", "--replicas", "1",
                                              "--port", "0"])
    cfg = load_config(args, {**config_overrides(args), "data_dir": str(tmp_path)})
    assert (cfg.ray.address, cfg.ray.replicas, cfg.ray.replica_cpus) == (cluster.address, "1", REPLICA_CPUS)
    ctx = ServeContext(args, cfg, create_app(cfg), out=io.StringIO())
    start_ray(ctx)
    load_models(ctx)
    svc = ctx.app.extensions["visioncast"]
    assert isinstance(svc.classifier().runtime, RayRuntime)
    resp = ctx.app.test_client().post("/api/v1/classify", data=(data_dir / "bus.jpg").read_bytes(),
                                      headers={"Content-Type": "image/jpeg"})
    assert resp.status_code == 200
    assert "2 nodes, 2 CPUs; models run as Serve deployments with 1 replica(s)" in ctx.out.getvalue()
    svc.close()  # what Ctrl-C does after the server drains
    assert not [a for a in ray.serve.status().applications if a.startswith(APP_PREFIX)]
