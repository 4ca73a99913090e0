"""A real two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``) for the slow scale-out tests,
their marks, and the skip (with its reason) where Ray cannot be imported."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from visioncast.scale.cluster import INLINE_TENSORS, import_ray

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
def two_nodes(cpus_per_node: float = 1) -> Iterator[Any]:
    """A head and a worker node of ``cpus_per_node`` CPUs each, started as docs/scale.md starts a cluster
    (tensors inline in the calls), this process connected to it; everything shut down on leaving."""
    ray = ray_or_skip()
    from ray.cluster_utils import Cluster  # noqa: PLC0415 — after import_ray silenced its warnings

    made = Cluster(initialize_head=True, connect=False,
                   head_node_args={"num_cpus": cpus_per_node, "include_dashboard": False,
                                   "_system_config": INLINE_TENSORS})
    made.add_node(num_cpus=cpus_per_node)
    ray.init(address=made.address, namespace="visioncast", log_to_driver=False, logging_level="ERROR")
    made.wait_for_nodes(timeout=60)
    try:
        yield made
    finally:
        ray.serve.shutdown()
        ray.shutdown()
        made.shutdown()
