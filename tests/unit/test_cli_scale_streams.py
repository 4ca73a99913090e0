"""`serve --ray`'s stream flags without a cluster: their one-line errors, and that without --ray the step
leaves streams in this process."""

from __future__ import annotations

import io

import pytest

from visioncast.cli.main import build_parser
from visioncast.cli.options import load_config
from visioncast.cli.serve import ServeContext, place_streams
from visioncast.errors import InputError
from visioncast.server import create_app
from visioncast.server.stream_registry import registry


def context(tmp_path, *argv: str) -> ServeContext:
    args = build_parser(["serve"]).parse_args(["serve", *argv])
    cfg = load_config(args, {"data_dir": str(tmp_path)})
    return ServeContext(args, cfg, create_app(cfg), out=io.StringIO())


def test_without_ray_streams_stay_in_this_process(tmp_path):
    ctx = context(tmp_path, "--stream-cpus", "2")
    place_streams(ctx)
    assert registry(ctx.app).placer is None
    assert ctx.out.getvalue() == ""


@pytest.mark.parametrize(("argv", "words"), [
    (("--stream-cpus", "0"), "--stream-cpus must be positive, got 0.0"),
    (("--stream-restarts", "-1"), "--stream-restarts must be 0 or more, got -1"),
])
def test_bad_stream_flags_say_what_is_expected(tmp_path, argv, words):
    with pytest.raises(InputError, match=words):
        place_streams(context(tmp_path, "--ray", "auto", *argv))
