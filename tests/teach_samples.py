"""Builders for teaching tests: classes of 'webcam samples' cut from the real photos and clip in tests/data.

Each class is one real scene seen through random crops, mirror flips and brightness changes, the way a
webcam sees an object held at slightly different places; held-out samples are other crops of the same scene.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

DATA = Path(__file__).parent / "data"
SAMPLE = Path(__file__).parents[1] / "src" / "visioncast" / "samples" / "messi5.jpg"
SCENES = {"公交车": DATA / "bus.jpg", "球员": DATA / "zidane.jpg", "足球": SAMPLE}


def jitter(image: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    """``n`` random crops (50–90 % of each side), half mirrored, brightness ×0.8–1.2."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    out = []
    for _ in range(n):
        s = rng.uniform(0.5, 0.9)
        ch, cw = int(h * s), int(w * s)
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = image[y:y + ch, x:x + cw]
        crop = crop[:, ::-1] if rng.random() < 0.5 else crop
        out.append(np.clip(crop * rng.uniform(0.8, 1.2), 0, 255).astype(np.uint8))
    return out


def street_frames(n: int) -> list[np.ndarray]:
    """The first ``n`` frames of the street clip (a fourth class that moves)."""
    cap = cv2.VideoCapture(str(DATA / "vtest_clip.avi"))
    frames = []
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def class_samples(n: int = 20, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Four classes (three photos, one street clip) of ``n`` samples each."""
    samples = {label: jitter(cv2.imread(str(path)), n, seed + i)
               for i, (label, path) in enumerate(SCENES.items())}
    samples["街道"] = street_frames(2 * n)[::2]
    return samples


def write_folders(root: Path, samples: dict[str, list[np.ndarray]]) -> dict[str, Path]:
    """Each class as a folder of JPEG files under ``root``; label → folder."""
    folders = {}
    for i, (label, images) in enumerate(samples.items()):
        folder = root / f"class{i}"
        folder.mkdir(parents=True)
        for j, image in enumerate(images):
            cv2.imwrite(str(folder / f"{j:03d}.jpg"), image)
        folders[label] = folder
    return folders


def pose_samples(n: int = 12, seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Two poses of real people: squatting (the coral photo) and standing (the right player of zidane.jpg)."""
    squat = cv2.imread(str(DATA / "squat.jpg"))
    stand = cv2.imread(str(DATA / "zidane.jpg"))[:, 650:1250]
    return {"蹲": jitter(squat, n, seed), "站": jitter(stand, n, seed + 1)}
