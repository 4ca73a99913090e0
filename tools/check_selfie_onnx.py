"""How far the converted selfie segmentation ONNX (tools/tflite_to_onnx.py) is from MediaPipe's own
runtime.

Run in a throwaway venv with ``mediapipe==0.10.14`` and ``onnxruntime`` (mediapipe pins protobuf < 5, so not
the venv that converts). Prints the largest probability difference and the mask IoU per image;
``--golden DIR`` also writes MediaPipe's probabilities as 8-bit PNGs ``selfie_<stem>_mediapipe.png``
(tests/data/golden):

    /tmp/mp/bin/python tools/check_selfie_onnx.py src/visioncast/models/data/selfie_segmentation_256.onnx \
        --golden tests/data/golden tests/data/bus.jpg tests/data/squat.jpg
"""

from __future__ import annotations

import sys

import cv2
import mediapipe as mp
import numpy as np
import onnxruntime as ort


def check(onnx_path: str, images: list[str], golden_dir: str | None = None) -> None:
    """Print how far the ONNX model's person probabilities are from MediaPipe's own (its legacy
    SelfieSegmentation solution, general model) on 256×256 RGB images; with ``golden_dir``, save MediaPipe's
    as 8-bit PNGs (selfie_<stem>_mediapipe.png) for the tests."""
    sess = ort.InferenceSession(onnx_path)
    seg = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
    for path in images:
        img = cv2.imread(path)
        rgb = cv2.cvtColor(cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        ours = sess.run(None, {"input": (rgb.astype(np.float32) / 255)[None]})[0][0, :, :, 0]
        theirs = seg.process(rgb).segmentation_mask
        a, b = ours >= 0.5, theirs >= 0.5
        print(f"{path}: max |difference| {np.abs(ours - theirs).max():.5f}, "
              f"mask IoU {(a & b).sum() / max(1, (a | b).sum()):.4f}")
        if golden_dir:
            stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            cv2.imwrite(f"{golden_dir}/selfie_{stem}_mediapipe.png", np.round(theirs * 255).astype(np.uint8))


if __name__ == "__main__":
    args = sys.argv[1:]
    golden = args[args.index("--golden") + 1] if "--golden" in args else None
    check(args[0], [a for a in args[1:] if a not in ("--golden", golden)], golden)
