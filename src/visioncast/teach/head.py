"""The trained part of a taught model: a linear softmax head on frozen features. Pure (numpy only).

Multinomial logistic regression with L2, fitted by full-batch gradient descent with Adam on standardised
features; the standardisation is folded into the weights, so the head is one ``x @ weight + bias`` that a
single ONNX Gemm carries. Also the held-out split and the accuracy / confusion table shown to the class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from visioncast.errors import InputError

MIN_SAMPLES = 5  # per class: fewer cannot give a held-out sample and a model that generalises


@dataclass(frozen=True)
class LinearHead:
    """weight float32 (D, C), bias float32 (C,): logits = features @ weight + bias."""

    weight: np.ndarray
    bias: np.ndarray

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(N, D) features → (N, C) class probabilities."""
        logits = features.astype(np.float32) @ self.weight + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Evaluation:
    """accuracy over held-out samples (None when there were none); per_class accuracy; confusion[i, j]:
    held-out samples of class i predicted as j."""

    accuracy: float | None
    per_class: tuple[float | None, ...]
    confusion: np.ndarray


def check_classes(counts: dict[str, int]) -> None:
    """InputError unless there are ≥ 2 classes with ≥ MIN_SAMPLES samples each (names the class)."""
    if len(counts) < 2:
        raise InputError(f"teaching needs at least 2 classes, got {len(counts)}")
    for name, n in counts.items():
        if n < MIN_SAMPLES:
            raise InputError(f"class {name!r} has {n} samples; record at least {MIN_SAMPLES}")


def split_held_out(labels: np.ndarray, fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split → (train indices, held-out indices): ``fraction`` of each class (at least one)."""
    rng = np.random.default_rng(seed)
    train: list[int] = []
    held: list[int] = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = max(1, round(len(idx) * fraction)) if len(idx) >= 2 else 0
        held.extend(idx[:k])
        train.extend(idx[k:])
    return np.sort(np.asarray(train, np.int64)), np.sort(np.asarray(held, np.int64))


def fit_head(features: np.ndarray, labels: np.ndarray, n_classes: int, *, l2: float = 1e-2,
             steps: int = 300, lr: float = 0.05, seed: int = 0) -> LinearHead:
    """Fit a softmax head on (N, D) ``features`` and (N,) integer ``labels`` in [0, n_classes)."""
    x = np.asarray(features, np.float64)
    y = np.asarray(labels, np.int64)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / std
    onehot = np.eye(n_classes)[y]
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 0.01, (x.shape[1], n_classes))
    b = np.zeros(n_classes)
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    for t in range(1, steps + 1):
        logits = z @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) / len(z)
        g_w, g_b = z.T @ g + l2 * w, g.sum(axis=0)
        m_w, v_w = 0.9 * m_w + 0.1 * g_w, 0.999 * v_w + 0.001 * g_w**2
        m_b, v_b = 0.9 * m_b + 0.1 * g_b, 0.999 * v_b + 0.001 * g_b**2
        corr = np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        w -= lr * corr * m_w / (np.sqrt(v_w) + 1e-8)
        b -= lr * corr * m_b / (np.sqrt(v_b) + 1e-8)
    weight = w / std[:, None]  # fold the standardisation: (x - mean) / std @ w = x @ (w / std) - mean/std @ w
    bias = b - (mean / std) @ w
    return LinearHead(weight.astype(np.float32), bias.astype(np.float32))


def evaluate(head: LinearHead, features: np.ndarray, labels: np.ndarray, n_classes: int) -> Evaluation:
    """Accuracy and confusion of ``head`` on held-out (N, D) features with true (N,) labels."""
    confusion = np.zeros((n_classes, n_classes), np.int64)
    if len(labels) == 0:
        return Evaluation(None, (None,) * n_classes, confusion)
    predicted = head.probabilities(features).argmax(axis=1)
    np.add.at(confusion, (np.asarray(labels, np.int64), predicted), 1)
    totals = confusion.sum(axis=1)
    per_class = tuple(float(confusion[i, i] / totals[i]) if totals[i] else None for i in range(n_classes))
    return Evaluation(float(np.trace(confusion) / totals.sum()), per_class, confusion)
