"""Summarise a py-spy profile of the pipeline by stage: where its CPU samples went, in % of all samples.

Record with py-spy (benchmark-only tool, ``pip install py-spy``), raw collapsed stacks, e.g.::

    py-spy record -r 250 -f raw -o before.txt -- python bench/profile_pipeline.py yolox-nano 300
    python bench/flame_summary.py before.txt [after.txt]

Each sample's stack is put in the first bucket whose frame it contains (in the order of ``BUCKETS``: the
inference call first, so the model's time never counts as the stage that called it). py-spy cannot tell a
thread blocked in ``Condition.wait`` (a lock acquire with a timeout) from a running one, so stacks ending in
a wait are counted apart as "waiting" and left out, with start-up and model loading, of the shares: the
shares are of the samples that process frames. With two files, the columns sit side by side.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

BUCKETS = (
    ("model (engine call)", ("InferenceSession.run", "runtimes/onnx.py", "openvino")),
    ("video decode", ("VideoFileSource.__iter__",)),
    ("prepare: letterbox + tensor", ("Pipeline.prepare", "Detector.prepare")),
    ("decode outputs", ("Decoder.decode", "YoloxDecoder.decode", "UltralyticsDecoder.decode")),
    ("NMS + to original pixels", ("finish (visioncast/tasks/detect.py",)),
    ("tracker", ("ByteTracker.update",)),
    ("statistics (analytics)", ("Analytics.update",)),
    ("results, stats and delivery", ("Pipeline._postprocess", "Pipeline._emit", "Pipeline._output_loop")),
    ("queues and thread hand-offs", ("queue.py", "threading.py", "_Reorder")),
    ("start-up and model load", ("load_model", "open_pipeline", "_find_and_load", "<module>")),
)


WAITS = ("Condition.wait", "Event.wait", "Thread.join", "Semaphore.acquire", "Queue.get", "Queue.put")
APART = ("waiting (blocked, not CPU)", "start-up and model load")


def summarise(path: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        if any(w in leaf for w in WAITS):
            bucket = APART[0]
        else:
            bucket = next((name for name, keys in BUCKETS if any(k in stack for k in keys)), "other")
        counts[bucket] += int(n)
    return counts


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv]
    if not files:
        print(__doc__)
        return 2
    tables = [summarise(f) for f in files]
    names = [name for name, _ in BUCKETS] + ["other"]
    print("| stage (share of the frame-processing samples) | " + " | ".join(f.name for f in files) + " |")
    print("|---|" + "---|" * len(files))
    working = [sum(v for k, v in t.items() if k not in APART) for t in tables]
    for name in names:
        if name not in APART:
            cells = [f"{100 * t[name] / max(1, w):.1f} %" for t, w in zip(tables, working, strict=True)]
            print(f"| {name} | " + " | ".join(cells) + " |")
    for name in APART:
        print(f"| ({name}: samples) | " + " | ".join(str(t[name]) for t in tables) + " |")
    print("| frame-processing samples | " + " | ".join(str(w) for w in working) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
