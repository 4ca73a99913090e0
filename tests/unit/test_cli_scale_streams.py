"""`serve --ray`'s stream placement without a cluster: the actor flags are the [ray] section's (shared with
`run --ray`) with their one-line errors, and without --ray the step leaves streams in this process."""

from __future__ import annotations

import io

import pytest

from visioncast.cli.main import build_parser
from visioncast.cli.options import load_config
from visioncast.cli.serve import ServeContext, config_overrides, place_streams
from visioncast.errors import ConfigError
from visioncast.server.app import create_app
from visioncast.server.streams.registry import registry


def context(tmp_path, *argv: str) -> ServeContext:
    args = build_parser(["serve"]).parse_args(["serve", *argv])
    cfg = load_config(args, {**config_overrides(args), "data_dir": str(tmp_path)})
    return ServeContext(args, cfg, create_app(cfg), out=io.StringIO())


def test_without_ray_streams_stay_in_this_process(tmp_path):
    ctx = context(tmp_path, "--actor-cpus", "2")
    assert ctx.config.ray.actor_cpus == 2.0
    place_streams(ctx)
    assert registry(ctx.app).placer is None
    assert ctx.out.getvalue() == ""


@pytest.mark.parametrize(("argv", "words"), [
    (("--actor-cpus", "0"), "ray.actor_cpus"),
    (("--actor-restarts", "-1"), "ray.actor_restarts"),
])
def test_bad_actor_flags_say_what_is_expected(tmp_path, argv, words):
    with pytest.raises(ConfigError, match=words):
        context(tmp_path, "--ray", "auto", *argv)
