"""The --ray command-line side without a cluster: replica bounds, per-source names and outputs, the one-line
errors, the [ray] config section under the flags, and that nothing of Ray is imported when --ray is not
given."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from visioncast import config
from visioncast.cli.main import build_parser
from visioncast.cli.scale import describe_summary, per_source_args, ray_overrides, source_label
from visioncast.config import RayConfig
from visioncast.errors import ConfigError, InputError
from visioncast.scale.cluster import Replicas, parse_replicas

DATA = Path(__file__).parents[1] / "data"


@pytest.mark.parametrize(("text", "bounds", "options"), [
    ("1", (1, 1), {"num_replicas": 1}),
    ("3", (3, 3), {"num_replicas": 3}),
    ("1-4", (1, 4), {"autoscaling_config": {"min_replicas": 1, "max_replicas": 4,
                                             "target_ongoing_requests": 1}}),
    (" 2-2 ", (2, 2), {"num_replicas": 2}),
])
def test_replicas_are_a_count_or_autoscaling_bounds(text, bounds, options):
    replicas = parse_replicas(text)
    assert (replicas.low, replicas.high) == bounds
    assert replicas.options() == options


@pytest.mark.parametrize("text", ["0", "3-1", "two", "1-", "-2", "1.5"])
def test_bad_replicas_say_what_is_expected(text):
    with pytest.raises(InputError, match="--replicas"):
        parse_replicas(text)


@pytest.mark.parametrize(("spec", "label"), [
    ("tests/data/vtest_clip.avi", "vtest_clip.avi"),
    ("0", "cam0"), ("CAM", "cam0"), ("2", "cam2"),
    ("rtsp://user:secret@10.0.0.5:554/stream1", "10.0.0.5_554_stream1"),
    ("http://cam.local/video.mjpg/", "cam.local_video.mjpg"),
])
def test_source_labels_are_short_file_safe_and_never_show_credentials(spec, label):
    assert source_label(spec) == label


def parse(*argv: str):
    return build_parser(["run"]).parse_args(["run", *argv])


def test_each_source_gets_its_own_name_and_outputs(tmp_path):
    avi, mp4 = str(DATA / "vtest_clip.avi"), str(DATA / "vtest_clip.mp4")
    args = parse("--ray", "auto", "-i", avi, "-i", mp4, "-i", avi, "-o", f"{tmp_path}/{{name}}.mp4",
                 "--jsonl", f"{tmp_path}/{{name}}.jsonl")
    assert args.input == avi  # the last -i, as before
    jobs = per_source_args(args)
    assert [j.name for j in jobs] == ["vtest_clip.avi", "vtest_clip.mp4", "vtest_clip.avi-2"]
    assert [j.input for j in jobs] == [avi, mp4, avi]
    assert jobs[2].output == f"{tmp_path}/vtest_clip.avi-2.mp4"
    assert jobs[1].jsonl == f"{tmp_path}/vtest_clip.mp4.jsonl"
    assert args.output == f"{tmp_path}/{{name}}.mp4"  # the parsed flags are not changed


@pytest.mark.parametrize(("flags", "message"), [
    (["-o", "out.mp4"], "with several sources it needs {name}"),
    (["--jsonl", "out.jsonl"], "with several sources it needs {name}"),
    (["--jsonl", "-"], "not available with --ray"),
])
def test_outputs_of_several_sources_must_not_collide(flags, message):
    args = parse("--ray", "auto", "-i", "a.mp4", "-i", "b.mp4", *flags)
    with pytest.raises(InputError, match=message.replace("{", r"\{").replace("}", r"\}")):
        per_source_args(args)


def test_several_sources_without_ray_is_a_one_line_error():
    done = subprocess.run([sys.executable, "-m", "visioncast", "run", "-i", str(DATA / "vtest_clip.avi"),
                           "-i", str(DATA / "vtest_clip.mp4")],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "add --ray ADDRESS" in done.stderr
    assert "Traceback" not in done.stderr


PROBE = """
import sys
from visioncast.cli.main import build_parser, main
from visioncast.cli.serve import ServeContext, load_models, start_ray
from visioncast.cli.options import load_config
from visioncast.server.app import create_app
main(["run", "-i", {clip!r}, "--max-frames", "3", "--quiet"])
args = build_parser(["serve"]).parse_args(["serve", "--port", "0"])
cfg = load_config(args, {{"data_dir": {tmp!r}}})
ctx = ServeContext(args, cfg, create_app(cfg))
start_ray(ctx)
load_models(ctx)
body = {{"inputs": [{{"name": "input", "shape": [1, 3, 32, 32], "datatype": "FP32", "data": [0.0] * 3072}}]}}
assert ctx.app.test_client().post("/v2/models/resnet56-cifar10/infer", json=body).status_code == 200
print("RAY", sorted(m for m in sys.modules if m == "ray" or m.startswith(("ray.", "visioncast.scale."))))
"""


def test_nothing_of_ray_is_imported_without_the_flag(tmp_path):
    code = PROBE.format(clip=str(DATA / "vtest_clip.avi"), tmp=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "RAY []"


def test_replica_bounds_print_as_given():
    assert Replicas(2, 2).fixed
    assert not Replicas(1, 3).fixed


def test_ray_settings_come_from_the_config_layers_and_a_flag_wins(tmp_path):
    toml = tmp_path / "visioncast.toml"
    toml.write_text('[ray]\naddress = "head:6379"\nreplicas = 2\nactor_restarts = 5\ntimeout_s = 12\n',
                    encoding="utf-8")
    env = {"VISIONCAST_RAY__REPLICAS": "1-4", "VISIONCAST_RAY__ACTOR_CPUS": "0.5",
           "VISIONCAST_RAY__AUTH_TOKEN": "cluster-secret-7f3a"}
    args = build_parser(["run"]).parse_args(["run", "-i", "a.mp4", "--actor-restarts", "1"])
    cfg = config.load(toml, env=env, overrides=ray_overrides(args))
    assert cfg.ray == RayConfig(address="head:6379", replicas="1-4", replica_cpus=1.0, actor_cpus=0.5,
                                actor_restarts=1, timeout_s=12.0, deploy_timeout_s=60.0,
                                auth_token="cluster-secret-7f3a")
    assert "cluster-secret" not in repr(cfg)  # the cluster's token is never printed with the settings
    off = build_parser(["serve"]).parse_args(["serve", "--ray", "off", "--replicas", "3"])
    cfg = config.load(toml, env={}, overrides=ray_overrides(off))
    assert (cfg.ray.address, cfg.ray.replicas) == ("", "3")  # --ray off: not on Ray whatever the file says


@pytest.mark.parametrize(("overrides", "message"), [
    ({"ray.replicas": "0"}, "config 'ray.replicas' must be N or MIN-MAX"),
    ({"ray.replicas": "4-2"}, "config 'ray.replicas' must be N or MIN-MAX"),
    ({"ray.replica_cpus": 0}, "config 'ray.replica_cpus' must be more than 0"),
    ({"ray.actor_cpus": -1}, "config 'ray.actor_cpus' must be more than 0"),
    ({"ray.actor_restarts": -1}, "config 'ray.actor_restarts' must be at least 0"),
    ({"ray.adress": "auto"}, "unknown config key 'ray.adress'"),
])
def test_bad_ray_settings_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.load(env={}, overrides=overrides)


def test_a_bad_ray_flag_is_a_one_line_error():
    done = subprocess.run([sys.executable, "-m", "visioncast", "run", "--ray", "local", "--actor-cpus", "0",
                           "-i", str(DATA / "vtest_clip.avi")],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "'ray.actor_cpus' must be more than 0, got 0.0 (on the command line)" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_summary_line_counts_restarts():
    summary = {"name": "hall.mp4", "node": "a1b2c3d4e5", "frames": 70, "fps": 9.5, "dropped": 0,
               "restarts": 1, "totals": {"person": 9}, "lines": {}, "outputs": [], "mqtt": []}
    assert describe_summary(summary) == ("hall.mp4 (node a1b2c3d4): 70 frames · 9.5 fps · dropped 0 · "
                                         "restarts 1 · unique: person 9")
