"""Teaching: samples per class → features → held-out check → head → one ONNX classifier in the model cache.
I/O: runs the extractor, writes the model file and the cache index.

The held-out figures come from a head fitted without the held-out samples; the model that is saved is then
fitted on every sample (the usual practice when samples are few). The saved model is registered like a pulled
one (``origin: taught``), so ``-m NAME`` finds it on every channel.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from visioncast.atomic import write_atomic
from visioncast.models.labels import check_labels
from visioncast.models.registry import ModelInfo, check_model_name, find_model, register_model
from visioncast.teach.extractor import FeatureExtractor
from visioncast.teach.graph import with_head
from visioncast.teach.head import Evaluation, check_classes, evaluate, fit_head, split_held_out

LICENCES = {"image": "Apache-2.0 (MobileNet-V2 features + taught head)",
            "pose": "Apache-2.0 (MoveNet keypoints + taught head)"}


@dataclass(frozen=True)
class TrainReport:
    """labels; counts: samples per class; held_out: held-out samples per class; evaluation on those;
    extract_s / fit_s: seconds spent extracting features and fitting heads."""

    labels: tuple[str, ...]
    counts: tuple[int, ...]
    held_out: tuple[int, ...]
    evaluation: Evaluation
    extract_s: float
    fit_s: float

    def lines(self) -> list[str]:
        """The report as a class reads it: one line per class, then the overall figure."""
        out = []
        for i, label in enumerate(self.labels):
            acc = self.evaluation.per_class[i]
            shown = "–" if acc is None else f"{acc:.0%}"
            out.append(f"{label}: {self.counts[i]} samples, held-out {self.held_out[i]}, accuracy {shown}")
        total = self.evaluation.accuracy
        out.append("held-out accuracy: " + ("– (too few samples)" if total is None else f"{total:.1%}")
                   + f"; features {self.extract_s:.1f} s, training {self.fit_s:.2f} s")
        return out


def teach(samples: Mapping[str, Sequence[np.ndarray]], extractor: FeatureExtractor, *,
          held_out: float = 0.2, seed: int = 0) -> tuple[onnx.ModelProto, TrainReport]:
    """Train a classifier of ``samples`` (class name → BGR images) on ``extractor``'s features."""
    given = list(samples)
    labels = check_labels(given)  # NFC: the name the model keeps may differ from the key given
    check_classes({label: len(samples[key]) for label, key in zip(labels, given, strict=True)})
    t0 = time.perf_counter()
    feats: list[np.ndarray] = []
    ys: list[int] = []
    for i, key in enumerate(given):
        for image in samples[key]:
            feats.append(extractor.features(image))
            ys.append(i)
    y = np.asarray(ys, np.int64)
    counts = tuple(int((y == i).sum()) for i in range(len(labels)))
    x = np.stack(feats)
    t1 = time.perf_counter()
    train_idx, held_idx = split_held_out(y, held_out, seed)
    evaluation = evaluate(fit_head(x[train_idx], y[train_idx], len(labels), seed=seed),
                          x[held_idx], y[held_idx], len(labels))
    head = fit_head(x, y, len(labels), seed=seed)
    t2 = time.perf_counter()
    held = tuple(int((y[held_idx] == i).sum()) for i in range(len(labels)))
    meta = {"visioncast_extractor": extractor.name, "visioncast_kind": extractor.kind}
    meta.update({p.key: p.value for p in extractor.graph.metadata_props})  # e.g. visioncast_resize=pad
    model = with_head(extractor.graph, head, list(labels), meta)
    return model, TrainReport(labels, counts, held, evaluation, t1 - t0, t2 - t1)


def save_taught(model: onnx.ModelProto, name: str, *, cache_dir: Path) -> ModelInfo:
    """Write ``model`` into the cache as ``<name>.onnx`` (atomically) and register it under ``name``."""
    check_model_name(name)
    kind = next((p.value for p in model.metadata_props if p.key == "visioncast_kind"), "image")
    final = cache_dir / f"{name}.onnx"
    write_atomic(final, model.SerializeToString())
    licence = LICENCES.get(kind, LICENCES["image"])
    register_model(cache_dir, name, {"file": final.name, "task": "classify", "licence": licence,
                                     "origin": "taught", "kind": kind})
    return find_model(name, cache_dir)
