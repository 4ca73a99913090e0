"""The model cache of Services stays bounded: at most models.max_loaded models besides the two defaults, the
least recently used going first. Real models (the shipped YOLOX-nano under three pulled names)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from visioncast import config
from visioncast.server.services import Services

MODEL = Path(__import__("visioncast").__file__).parent / "models" / "data" / "yolox_nano_416_coco.onnx"


def test_the_model_cache_keeps_at_most_max_loaded_besides_the_defaults(tmp_path: Path) -> None:
    cache = tmp_path / "models"
    cache.mkdir()
    index = {}
    for name in ("a", "b", "c"):
        shutil.copy(MODEL, cache / f"{name}.onnx")
        index[name] = {"file": f"{name}.onnx", "task": "detect", "family": "yolox", "labels": "coco80"}
    (cache / "index.json").write_text(json.dumps(index), encoding="utf-8")
    svc = Services(config.load(env={}, overrides={"data_dir": str(tmp_path), "models.cache_dir": str(cache),
                                                  "models.max_loaded": 2}))
    svc.detector()
    for name in ("a", "b", "a", "c"):
        assert svc.detector(name).name == name
    assert svc.loaded() == [("detect", "yolox-nano"), ("detect", "a"), ("detect", "c")]
