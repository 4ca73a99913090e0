"""What RayRuntime sends over the cluster without a cluster: image tensors as uint8 only when that is exact,
and the replica's engine gets float32 back (the real model, through ModelReplica)."""

from __future__ import annotations

import numpy as np
import pytest

from visioncast.models.registry import find_model
from visioncast.scale.deployment import COMPACT_MIN_VALUES, ModelReplica, compact_feeds

SIDE = 64  # 3 × 64 × 64 values: above COMPACT_MIN_VALUES


def image_tensor(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float32).reshape(1, 3, SIDE, SIDE)


def test_a_letterboxed_image_travels_as_uint8_and_keeps_every_value():
    x = image_tensor(np.random.default_rng(1).integers(0, 256, 3 * SIDE * SIDE))
    sent = compact_feeds({"images": x})["images"]
    assert sent.dtype == np.uint8
    np.testing.assert_array_equal(sent.astype(np.float32), x)


@pytest.mark.parametrize("values", [
    np.linspace(-1.0, 1.0, 3 * SIDE * SIDE),  # normalised
    np.r_[np.zeros(3 * SIDE * SIDE - 1), 256.0],  # one value out of range
    np.r_[np.zeros(3 * SIDE * SIDE - 1), 0.5],  # one fraction
    np.r_[np.zeros(3 * SIDE * SIDE - 1), np.nan],
])
def test_anything_else_travels_as_it_is(values):
    x = image_tensor(values)
    assert compact_feeds({"input": x})["input"] is x


def test_only_the_named_inputs_are_compacted():
    x = image_tensor(np.zeros(3 * SIDE * SIDE))
    sent = compact_feeds({"a": x, "b": x}, names={"a"})
    assert sent["a"].dtype == np.uint8
    assert sent["b"] is x


def test_small_tensors_are_not_worth_the_check():
    x = np.zeros((1, COMPACT_MIN_VALUES - 1), np.float32)
    assert compact_feeds({"x": x})["x"] is x


def test_the_replica_widens_what_was_compacted():
    info = find_model("yolox-nano")
    replica = ModelReplica(info.name, info.path.read_bytes())
    x = np.full((1, 3, 416, 416), 114.0, np.float32)
    x[0, :, 100:200, 100:300] = 30.0
    try:
        np.testing.assert_array_equal(replica.run(compact_feeds({"images": x}))[0],
                                      replica.runtime.run({"images": x})[0])
    finally:
        replica.close()
