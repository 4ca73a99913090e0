"""The linear head: fitting, folded standardisation, held-out split, evaluation and class checks."""

from __future__ import annotations

import numpy as np
import pytest

from visioncast.errors import InputError
from visioncast.teach.head import MIN_SAMPLES, check_classes, evaluate, fit_head, split_held_out


def clusters(n: int, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian clusters with offsets and scales far from standardised (as pooled features are)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (3, d)) + 50
    y = np.repeat(np.arange(3), n)
    x = centres[y] + rng.normal(0, 1, (3 * n, d)) * rng.uniform(0.1, 10, d)
    return x.astype(np.float32), y


def test_head_separates_clusters_it_has_not_seen() -> None:
    x, y = clusters(40)
    train, held = split_held_out(y, 0.25, seed=1)
    head = fit_head(x[train], y[train], 3)
    ev = evaluate(head, x[held], y[held], 3)
    assert ev.accuracy is not None
    assert ev.accuracy >= 0.9
    assert ev.confusion.sum() == len(held)


def test_folded_standardisation_gives_the_probabilities_of_the_fitted_model() -> None:
    x, y = clusters(10)
    head = fit_head(x, y, 3, steps=50)
    p = head.probabilities(x)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    # the same head applied by hand in float64 on the raw features
    logits = x.astype(np.float64) @ head.weight.astype(np.float64) + head.bias
    ref = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p, ref / ref.sum(axis=1, keepdims=True), atol=1e-4)


def test_held_out_split_is_stratified_and_disjoint() -> None:
    y = np.array([0] * 10 + [1] * 5 + [2] * 30)
    train, held = split_held_out(y, 0.2)
    assert set(train).isdisjoint(held)
    assert len(train) + len(held) == len(y)
    assert [int((y[held] == c).sum()) for c in range(3)] == [2, 1, 6]


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"开心": 30}, "at least 2 classes"),
        ({"开心": 30, "愤怒": MIN_SAMPLES - 1}, "class '愤怒' has 4 samples"),
    ],
)
def test_too_few_classes_or_samples_are_refused(counts: dict[str, int], message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_classes(counts)


def test_evaluation_without_held_out_samples_has_no_accuracy() -> None:
    x, y = clusters(5)
    ev = evaluate(fit_head(x, y, 3, steps=10), x[:0], y[:0], 3)
    assert ev.accuracy is None
    assert ev.per_class == (None, None, None)
