"""A real two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``) for the slow scale-out tests,
their marks, and the skip (with its reason) where Ray cannot be imported. The cluster uses token
authentication as docs/scale.md sets one up; this process joins it as `serve`/`run` do, with the token
given as ``ray.auth_token``."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from visioncast.scale.cluster import INLINE_TENSORS, _reload_auth_settings, connect, import_ray

TOKEN = secrets.token_hex(16)  # the cluster's token: only the cluster's processes have it in their env
AUTH_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")

MARKS = [
    pytest.mark.slow,
    # Ray's own modules warn (pydantic v1 fields, unclosed sockets of its gRPC channels): not ours to fix
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(300),
]


def ray_or_skip() -> Any:
    """The ray module, or skip the calling test module with the reason it cannot be used."""
    try:
        return import_ray()
    except Exception as exc:  # noqa: BLE001 — any failure to import the extra means: skip with its reason
        pytest.skip(f"Ray cannot be used here: {exc}", allow_module_level=True)


@contextlib.contextmanager
def auth_env(**values: str) -> Iterator[None]:
    """This process's Ray token settings set to ``values`` only (the others unset), restored on leaving."""
    saved = {name: os.environ.pop(name, None) for name in AUTH_VARIABLES}
    os.environ.update(values)
    _reload_auth_settings()
    try:
        yield
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value
        _reload_auth_settings()


@contextlib.contextmanager
def two_nodes(cpus_per_node: float = 1) -> Iterator[Any]:
    """A head and a worker node of ``cpus_per_node`` CPUs each with token authentication, started as
    docs/scale.md starts a cluster (tensors inline in the calls), this process joined to it by
    :func:`~visioncast.scale.cluster.connect` with the token; everything shut down on leaving."""
    ray = ray_or_skip()
    from ray.cluster_utils import Cluster  # noqa: PLC0415 — after import_ray silenced its warnings

    with auth_env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=TOKEN):  # what the nodes' processes inherit
        made = Cluster(initialize_head=True, connect=False,
                       head_node_args={"num_cpus": cpus_per_node, "include_dashboard": False,
                                       "_system_config": INLINE_TENSORS})
        made.add_node(num_cpus=cpus_per_node)
    try:
        with auth_env():  # nothing in the environment: the token comes from the config value
            connect(made.address, token=TOKEN)
            try:
                made.wait_for_nodes(timeout=60)
                yield made
            finally:
                ray.serve.shutdown()
                ray.shutdown()
    finally:
        made.shutdown()
