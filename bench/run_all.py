"""Refresh the table that opens docs/benchmarks.md: one row per target of issue 25, each from its script.

Each row names the target, its baseline, the figure measured now, how quiet the machine was while it ran
(the contention probe's verdicts over the run's rounds, see contention.py) and the command that produced it.
The scripts run one after the other in subprocesses; a row whose script is not there yet, or whose peer is
not installed (ultralytics lives in a benchmark-only venv: ``--bench-python``), says so instead of a figure.
``--quick`` runs fewer frames and rounds (minutes, not tens of minutes); ``--write`` replaces the table
between the markers in docs/benchmarks.md, otherwise it is printed. Usage::

    python bench/run_all.py --quick [--write] [--bench-python /work/benchvenv/bin/python] [--only pipeline]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- run_all: begin -->", "<!-- run_all: end -->"


@dataclass(frozen=True)
class Row:
    """One target: what it asks, against what, the command (full, quick) and how to read its output."""

    key: str
    target: str
    baseline: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    read: Callable[[str], str] | None = None  # None: the script's owner fills the figure in
    ultralytics: bool = False


def cpu_ratio(label: str) -> Callable[[str], str]:
    """'88 % (14.9 / 16.9 CPU-ms)' from bench_pipeline's CPU table row of ``label``."""
    def read(out: str) -> str:
        for line in out.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 7 and cells[0] == label and cells[2].replace(".", "").isdigit():
                return f"{cells[5]} ({cells[3]} / {cells[2]} CPU-ms per frame)"
        return "no figure in the output"
    return read


def unhindered(out: str) -> str:
    """The pipeline / ultralytics ratios of the rounds where ultralytics ran unhindered, and their median."""
    m = re.search(r"ran unhindered.*?: (.*)$", out, re.M)
    if not m:
        return "no ultralytics figure (not installed? use --bench-python)"
    ratios = [float(x) for x in re.findall(r"([\d.]+)×", m.group(1))]
    if not ratios:
        return "no round where ultralytics ran unhindered"
    ratios.sort()
    return f"{ratios[len(ratios) // 2]:.2f}× (median of {len(ratios)} unhindered rounds: " + \
        ", ".join(f"{r:.2f}×" for r in ratios) + ")"


def quietness(out: str) -> str:
    verdicts = re.findall(r"\((quiet|CONTENDED)\)", out)
    if not verdicts:
        return "no probe"
    scalings = re.findall(r"scaling ([\d.]+)×", out)
    span = f"{min(scalings)}–{max(scalings)}×"
    return f"{verdicts.count('quiet')} of {len(verdicts)} probes quiet (scaling {span})"


PIPE = ("bench/bench_pipeline.py",)
ROWS = (
    Row("pipeline", "YOLOX-nano pipeline ≥ 90 % of async model-only (CPU-ms per frame), identical results",
        "79–80 % (17.7 vs 14.2 CPU-ms, issue 25)",
        (*PIPE, "--engines", "onnxruntime", "--models", "yolox-nano", "--rounds", "5"),
        (*PIPE, "--engines", "onnxruntime", "--models", "yolox-nano", "--rounds", "3", "--frames", "200"),
        cpu_ratio("yolox-nano")),
    Row("pipeline-v8", "yolov8n pipeline ≥ 95 % of async model-only (CPU-ms per frame), identical results",
        "95 % (issue 25)",
        (*PIPE, "--engines", "onnxruntime", "--models", "yolov8n", "--rounds", "5"),
        (*PIPE, "--engines", "onnxruntime", "--models", "yolov8n", "--rounds", "3", "--frames", "60"),
        cpu_ratio("yolov8n int8")),
    Row("auto", "yolov8n, engine auto ≥ 1.3× ultralytics predict fps where ultralytics runs unhindered",
        "1.06× in the one unhindered round (issue 25)",
        (*PIPE, "--engines", "auto", "--models", "yolov8n", "--rounds", "5"),
        (*PIPE, "--engines", "auto", "--models", "yolov8n", "--rounds", "3", "--frames", "100"),
        unhindered, ultralytics=True),
    Row("mqtt", "MQTT latency (issue 25's siblings: owner fills in)", "–", ("bench/bench_mqtt.py",),
        ("bench/bench_mqtt.py",)),
    Row("classroom", "30 webcam clients ≥ 0.85× of model-only, every client within ±25 % (owner fills in)",
        "0.81× (issue 25)", ("bench/bench_classroom.py",), ("bench/bench_classroom.py",)),
    Row("ray", "Ray: ≤ 3 CPU-ms per call over local; serve --ray local ≥ 0.85× at 4 clients (owner fills in)",
        "≈ 10 CPU-ms; 0.57× (issue 25)", ("bench/bench_ray.py",), ("bench/bench_ray.py",)),
)


def run(row: Row, args: argparse.Namespace) -> tuple[str, str, str]:
    """(figure, quietness, command) of one row."""
    command = row.quick if args.quick else row.full
    shown = "python " + " ".join(command)
    if row.read is None or (args.only and row.key not in args.only):
        return "–", "–", shown
    python = args.bench_python if row.ultralytics and args.bench_python else sys.executable
    t0 = time.monotonic()
    proc = subprocess.run([python, *command], cwd=HERE.parent, capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    print(f"{row.key}: {time.monotonic() - t0:.0f} s, exit {proc.returncode}", file=sys.stderr, flush=True)
    if proc.returncode != 0:
        return f"failed (exit {proc.returncode}): {out.strip().splitlines()[-1:]}", quietness(out), shown
    return row.read(out), quietness(out), shown


def table(results: list[tuple[Row, tuple[str, str, str]]]) -> str:
    lines = [f"Refreshed {time.strftime('%Y-%m-%d %H:%M')} by `python bench/run_all.py"
             f"{' --quick' if any('--frames' in ' '.join(r.quick) for r, _ in results) else ''}`.", "",
             "| target | baseline | today | machine | command |", "|---|---|---|---|---|"]
    lines += [f"| {row.target} | {row.baseline} | {fig} | {quiet} | `{cmd}` |"
              for row, (fig, quiet, cmd) in results]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer frames and rounds")
    p.add_argument("--write", action="store_true", help=f"replace the table in {DOC.name}")
    p.add_argument("--bench-python", help="a python with ultralytics (benchmark-only venv) for its row")
    p.add_argument("--only", nargs="+", help="run only these rows (the others keep '–')")
    args = p.parse_args(argv)
    text = table([(row, run(row, args)) for row in ROWS])
    if not args.write:
        print(text)
        return 0
    doc = DOC.read_text(encoding="utf-8")
    if BEGIN not in doc or END not in doc:
        print(f"{DOC} has no {BEGIN} … {END} markers", file=sys.stderr)
        return 1
    head, rest = doc.split(BEGIN, 1)
    DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{rest.split(END, 1)[1]}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
