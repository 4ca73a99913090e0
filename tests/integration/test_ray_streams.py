"""Server streams placed on a real two-node Ray cluster started by the test on this machine
(``ray.cluster_utils``): a server set up as ``serve --ray`` does (its start-up steps) starts a stream on the
clip, which runs as an actor; its results reach a real MQTT subscriber through the server's push, its MJPEG
view serves frames over HTTP, stopping it kills the actor, and a killed actor is restarted (counted) until
the bound, then the stream fails. One cluster per module (starting one takes ~10 s)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import requests
from tests.mqtt_peers import Subscriber, free_port, mosquitto
from tests.ray_cluster import MARKS, ray_or_skip, two_nodes

from visioncast.cli.main import build_parser
from visioncast.cli.options import load_config
from visioncast.cli.serve import ServeContext, config_overrides, load_models, place_streams, start_ray
from visioncast.server.app import create_app
from visioncast.server.push import routes as push
from visioncast.server.streams.registry import registry
from visioncast.server.wsgi import HttpServer

pytestmark = MARKS
ray = ray_or_skip()

DATA = Path(__file__).parents[1] / "data"
CLIP = str(DATA / "vtest_clip.avi")  # 70 frames of 576×432 at 10 fps: a stream of 7 s at its own speed
CPUS_PER_NODE = 1
WAIT_S = 10.0
START_WAIT_S = 60.0  # a new actor: a worker process, the model, the source, on 2 busy cores


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with two_nodes(CPUS_PER_NODE) as made:
        yield made


@pytest.fixture(scope="module")
def server(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`serve --ray ADDRESS` set up by its own start-up steps, pushing to a Mosquitto of the test's, on a
    real HTTP server."""
    tmp = tmp_path_factory.mktemp("ray-streams")
    port = free_port()
    with mosquitto(tmp, port):
        args = build_parser(["serve"]).parse_args(
            ["serve", "--ray", cluster.address, "--replica-cpus", "0.25", "--actor-cpus", "0.5", "--port",
             "0"])
        cfg = load_config(args, {**config_overrides(args), "data_dir": str(tmp), "broker.enabled": False,
                                 "mqtt.payload": "json", "mqtt.url": f"mqtt://127.0.0.1:{port}",
                                 "mqtt.policy": "every", "mqtt.qos": 1, "streams.allow": [str(DATA / "*")]})
        ctx = ServeContext(args, cfg, create_app(cfg), out=io.StringIO())
        for step in (start_ray, place_streams, load_models):
            step(ctx)
        sink = push.start(ctx.app, None)
        assert sink is not None
        assert sink.wait_connected(WAIT_S)
        svc = ctx.app.extensions["visioncast"]
        with HttpServer(ctx.app, "127.0.0.1", 0, workers=8) as http:
            try:
                yield {"url": http.url, "app": ctx.app, "port": port, "out": ctx.out}
            finally:
                svc.close()  # first: it ends the MJPEG views, whose request threads the HTTP server awaits


def start(server: dict[str, Any], name: str) -> dict[str, Any]:
    answer = requests.post(f"{server['url']}/api/v1/streams", json={"source": CLIP, "name": name},
                           timeout=START_WAIT_S)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def stream(server: dict[str, Any], sid: str) -> dict[str, Any]:
    answer = requests.get(f"{server['url']}/api/v1/streams/{sid}", timeout=WAIT_S)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def wait_stream(server: dict[str, Any], sid: str, predicate: Any, timeout_s: float = START_WAIT_S
                ) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while not predicate(info := stream(server, sid)):
        assert time.monotonic() < deadline, info
        time.sleep(0.2)
    return info


def results(sub: Subscriber, name: str) -> list[dict[str, Any]]:
    return [json.loads(p) for p in sub.payloads(f"visioncast/{name}/result")]


def actor_exists(name: str) -> bool:
    try:
        ray.get_actor(name, namespace="visioncast")
    except ValueError:
        return False
    return True


def first_mjpeg_frame(url: str) -> np.ndarray:
    with requests.get(url, stream=True, timeout=WAIT_S) as answer:
        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        data = b""
        for chunk in answer.iter_content(8192):
            data += chunk
            start, end = data.find(b"\xff\xd8"), data.find(b"\xff\xd9")
            if start >= 0 and end > start:
                image = cv2.imdecode(np.frombuffer(data[start:end + 2], np.uint8), cv2.IMREAD_COLOR)
                assert image is not None
                return image
    raise AssertionError("the MJPEG view ended before one frame")


def assert_view_ends(viewer: requests.Response) -> None:
    """The MJPEG view of a stream that is over ends (each viewer holds a request thread of the server)."""
    try:
        for _ in viewer.iter_content(8192):
            pass
    except requests.exceptions.ConnectionError as exc:  # the read timed out: still open, nothing coming
        raise AssertionError("the stopped stream's MJPEG view did not end") from exc
    finally:
        viewer.close()


def test_a_stream_on_the_cluster_looks_like_a_local_one(server: dict[str, Any]) -> None:
    sub = Subscriber(server["port"], "visioncast/hall/#")
    try:
        t0 = time.monotonic()
        info = start(server, "hall")
        started_s = time.monotonic() - t0
        sid, placement = info["id"], info["placement"]
        assert placement["where"] == "ray"
        assert placement["node"] in {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        assert actor_exists(placement["actor"])
        assert "streams run on the cluster as actors of 0.5 CPU" in server["out"].getvalue()
        listed = requests.get(f"{server['url']}/api/v1/streams", timeout=WAIT_S).json()["streams"]
        assert [(s["id"], s["name"], s["model"], s["state"]) for s in listed] == [
            (sid, "hall", "yolox-nano", "running")]

        sub.wait_for(lambda m: len(results(sub, "hall")) >= 5, timeout_s=START_WAIT_S)
        image = first_mjpeg_frame(f"{server['url']}{info['mjpeg_url']}")
        assert image.shape == (432, 576, 3)
        assert image.std() > 10  # a picture, not a blank
        frame = requests.get(f"{server['url']}/api/v1/streams/{sid}/frame.jpg", timeout=WAIT_S)
        assert frame.status_code == 200
        assert frame.headers["Content-Type"] == "image/jpeg"

        viewer = requests.get(f"{server['url']}{info['mjpeg_url']}", stream=True, timeout=WAIT_S)

        running_s = time.monotonic() - t0
        stopped = requests.delete(f"{server['url']}/api/v1/streams/{sid}", timeout=WAIT_S).json()
        assert stopped["state"] == "stopped", stopped
        assert_view_ends(viewer)
        deadline = time.monotonic() + WAIT_S
        while actor_exists(placement["actor"]):
            assert time.monotonic() < deadline, "the stopped stream's actor still lives"
            time.sleep(0.2)
        # the last result was pulled before the actor went; its MQTT message may still be on its way
        last_frame = stream(server, sid)["stats"]["frame"]
        sub.wait_for(lambda m: any(r["frame"] == last_frame for r in results(sub, "hall")), timeout_s=WAIT_S)
    finally:
        sub.close()
    got = results(sub, "hall")
    print(f"stream on the cluster: started in {started_s:.1f} s, {len(got)} results on MQTT in "
          f"{running_s:.1f} s")
    frames = [r["frame"] for r in got]
    assert frames == sorted(frames)
    assert len(set(frames)) == len(frames)
    assert all(r["source"] == "hall" and r["width"] == 576 for r in got)
    assert any(d["label"] == "person" for r in got for d in r["detections"])
    last = stream(server, sid)
    assert last["stats"]["frame"] == frames[-1]
    assert last["counters"]["frames_out"] >= len(got)
    assert last["counters"]["restarts"] == 0
    assert last["error"] is None


def test_a_killed_actor_is_restarted_and_results_continue_until_the_bound(server: dict[str, Any]) -> None:
    registry(server["app"]).placer.max_restarts = 1  # type: ignore[union-attr]
    sub = Subscriber(server["port"], "visioncast/door/#")
    try:
        info = start(server, "door")
        sid, first = info["id"], info["placement"]["actor"]
        sub.wait_for(lambda m: len(results(sub, "door")) >= 3, timeout_s=START_WAIT_S)
        ray.kill(ray.get_actor(first, namespace="visioncast"), no_restart=True)
        killed = time.monotonic()
        again = wait_stream(server, sid, lambda s: s["placement"]["restarts"] == 1)
        restarted_s = time.monotonic() - killed
        assert again["state"] == "running", again
        assert first in again["placement"]["last_loss"]
        second = again["placement"]["actor"]
        assert second != first
        assert actor_exists(second)
        before = len(results(sub, "door"))
        sub.wait_for(lambda m: len(results(sub, "door")) >= before + 3, timeout_s=START_WAIT_S)
        print(f"actor killed: a new one running after {restarted_s:.1f} s, results again after "
              f"{time.monotonic() - killed:.1f} s")

        ray.kill(ray.get_actor(second, namespace="visioncast"), no_restart=True)
        failed = wait_stream(server, sid, lambda s: s["state"] != "running")
    finally:
        sub.close()
    assert failed["state"] == "failed", failed
    assert "no restart left (1 used)" in failed["error"]
    assert failed["placement"]["restarts"] == 1
    assert failed["counters"]["restarts"] == 1
    replayed = [r["frame"] for r in results(sub, "door")]
    assert replayed.count(0) == 2  # the new actor opened the file again


def test_a_source_the_node_cannot_open_is_a_400_and_leaves_no_actor(server: dict[str, Any]) -> None:
    before = {a for a in ray.util.list_named_actors() if a.startswith("visioncast-stream-")}
    answer = requests.post(f"{server['url']}/api/v1/streams", json={"source": str(DATA / "README.md")},
                           timeout=START_WAIT_S)
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"].startswith(f"cannot open source '{DATA / 'README.md'}'")
    deadline = time.monotonic() + WAIT_S
    while {a for a in ray.util.list_named_actors() if a.startswith("visioncast-stream-")} - before:
        assert time.monotonic() < deadline, "the actor of a stream that did not start still lives"
        time.sleep(0.2)

def test_stopping_the_server_kills_the_actors_of_its_streams(server: dict[str, Any]) -> None:
    # last in the module: it stops what the server runs, as Ctrl-C on `serve` does before the HTTP server
    info = start(server, "yard")
    actor = info["placement"]["actor"]
    wait_stream(server, info["id"], lambda s: s["counters"].get("frames_out", 0) > 0)
    server["app"].extensions["visioncast"].stop_producers()
    assert stream(server, info["id"])["state"] == "stopped"
    deadline = time.monotonic() + WAIT_S
    while actor_exists(actor):
        assert time.monotonic() < deadline, "the stopped server's stream actor still lives"
        time.sleep(0.2)
