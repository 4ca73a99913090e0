"""`serve --ray` and `run --ray`: the command-line side of :mod:`visioncast.scale`. I/O: prints, the cluster.

* ``serve --ray ADDRESS --replicas N|MIN-MAX``: :func:`start_ray` (a serve start-up step, before the models
  load) makes the server's models run in Ray Serve deployments; everything else of ``serve`` is unchanged.
* ``run --ray ADDRESS -i SRC -i SRC …``: :func:`run_on_ray` starts one pipeline actor per source, spread over
  the nodes, shows one progress line per source, stops them all on Ctrl-C and prints each one's summary.

Without ``--ray`` nothing here imports Ray (``visioncast.scale`` is imported inside the functions).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from visioncast.errors import InputError
from visioncast.sources import CAMERA_WORDS

if TYPE_CHECKING:
    from visioncast.cli.serve import ServeContext

POLL_S = 0.5
RPC_TIMEOUT_S = 10.0
STARTUP_TIMEOUT_S = 120.0  # loading a model and opening a camera on a busy node
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class InputsAction(argparse.Action):
    """``-i`` that may repeat: ``input`` keeps the last (as before), ``inputs`` lists them all."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        namespace.inputs = [*(getattr(namespace, "inputs", None) or []), values]


def add_ray_serve_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("ray (pip install 'visioncast[ray]')")
    g.add_argument("--ray", metavar="ADDRESS",
                   help="run the models in Ray Serve deployments on this cluster: auto (this machine's), "
                        "host:6379, ray://host:10001, or local (a private one)")
    g.add_argument("--replicas", default="1", metavar="N|MIN-MAX",
                   help="replicas per model: N, or MIN-MAX to autoscale (default 1)")
    g.add_argument("--replica-cpus", type=float, default=1.0, metavar="CPUS",
                   help="CPUs each replica reserves and its engine threads (default 1)")


def add_ray_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("ray (pip install 'visioncast[ray]')")
    g.add_argument("--ray", metavar="ADDRESS", help="one pipeline actor per -i source on this Ray cluster "
                   "(auto, host:6379, ray://host:10001, local); -o/--jsonl then take {name}")
    g.add_argument("--actor-cpus", type=float, default=1.0, metavar="CPUS",
                   help="CPUs each pipeline actor reserves (default 1)")


def start_ray(ctx: ServeContext) -> None:
    """Serve start-up step: with --ray, the app's models open as Ray Serve deployments."""
    if not getattr(ctx.args, "ray", None):
        return
    from visioncast.scale.cluster import cluster_summary, connect, parse_replicas  # noqa: PLC0415 — extra
    from visioncast.scale.deployment import ServeDeployments  # noqa: PLC0415

    replicas = parse_replicas(ctx.args.replicas)
    if ctx.args.replica_cpus <= 0:
        raise InputError(f"--replica-cpus must be positive, got {ctx.args.replica_cpus}")
    ray = connect(ctx.args.ray)
    deployments = ServeDeployments(replicas, replica_cpus=ctx.args.replica_cpus,
                                   engine=ctx.config.models.engine)
    services = ctx.app.extensions["visioncast"]
    services.runtime_opener = deployments.open
    services.on_close.append(deployments.close)
    bounds = str(replicas.low) if replicas.fixed else f"{replicas.low}–{replicas.high} (autoscaling)"
    print(f"Ray cluster {ctx.args.ray}: {cluster_summary(ray)}; models run as Serve deployments with "
          f"{bounds} replica(s) of {ctx.args.replica_cpus:g} CPU", file=ctx.out, flush=True)


def source_label(spec: str) -> str:
    """A short file-safe name for a source spec: the file name, cam0, or the URL's host and path."""
    text = spec.strip().rstrip("/")
    if text.isdigit() or text.lower() in CAMERA_WORDS:
        return f"cam{text if text.isdigit() else 0}"
    # a URL: host and path, never the credentials
    text = text.split("://", 1)[1].split("@")[-1] if "://" in text else Path(text).name
    return _UNSAFE.sub("_", text).strip("_") or "source"


def per_source_args(args: argparse.Namespace) -> list[argparse.Namespace]:
    """One copy of the flags per source: its own -i, a unique --name, and -o/--jsonl with {name} filled."""
    specs = list(getattr(args, "inputs", None) or [args.input])
    several = len(specs) > 1
    for flag, value in (("-o", args.output), ("--jsonl", args.jsonl)):
        if value == "-":
            raise InputError(f"{flag} - (stdout) is not available with --ray; give a file with {{name}}")
        if several and value and "{name}" not in value:
            raise InputError(f"{flag} {value!r}: with several sources it needs {{name}}, "
                             "e.g. out/{name}.mp4")
    out, seen = [], set()
    for spec in specs:
        name = args.name.replace("{name}", source_label(spec)) if args.name else source_label(spec)
        base, n = name, 2
        while name in seen:
            name, n = f"{base}-{n}", n + 1
        seen.add(name)
        one = copy.copy(args)
        one.input, one.inputs, one.name = spec, [spec], name
        one.output = args.output.replace("{name}", name) if args.output else None
        one.jsonl = args.jsonl.replace("{name}", name) if args.jsonl else None
        out.append(one)
    return out


def run_on_ray(args: argparse.Namespace) -> int:
    """`run` with --ray (or several -i): the pipelines as actors; 0 when every source ended well."""
    from visioncast.cli.options import load_config  # noqa: PLC0415 — the run command's own config path
    from visioncast.cli.run import overrides  # noqa: PLC0415
    from visioncast.pipeline.build import analytics_for  # noqa: PLC0415

    if not args.ray:
        raise InputError("several -i sources run as Ray actors: add --ray ADDRESS (auto, host:port, local)")
    if args.serve is not None:
        raise InputError("--serve (the live dashboard) is not available with --ray; use --mqtt or -o")
    if args.actor_cpus <= 0:
        raise InputError(f"--actor-cpus must be positive, got {args.actor_cpus}")
    # each actor's engine uses the CPUs it reserved, not every core of its node (unless --threads says)
    threads = args.threads or max(1, round(args.actor_cpus))
    cfg = load_config(args, {**overrides(args), "models.threads": threads})
    analytics_for(cfg.pipeline, "check")  # a bad --line/--zone/--event fails before the cluster is used
    jobs = per_source_args(args)
    from visioncast.cli.run_actor import PipelineWorker  # noqa: PLC0415 — imports Ray
    from visioncast.scale.cluster import cluster_summary, connect  # noqa: PLC0415

    ray = connect(args.ray)
    print(f"Ray cluster {args.ray}: {cluster_summary(ray)}; {len(jobs)} pipeline actor(s)", flush=True)
    worker = ray.remote(num_cpus=args.actor_cpus, max_restarts=0)(PipelineWorker)
    actors = {job.name: worker.options(scheduling_strategy="SPREAD").remote(job, cfg) for job in jobs}
    return _drive(ray, actors, quiet=args.quiet)


def _ask(ray: Any, ref: Any, timeout_s: float) -> tuple[Any, str | None]:
    """(the actor's answer, None), or (None, one line saying why there is none: its error, a lost node)."""
    try:
        return ray.get(ref, timeout=timeout_s), None
    except ray.exceptions.GetTimeoutError:
        return None, f"no answer within {timeout_s:g} s"
    except ray.exceptions.RayActorError as exc:
        return None, f"actor lost ({type(exc).__name__}: its node or process died)"
    except ray.exceptions.RayTaskError as exc:
        return None, str(exc.cause or exc).splitlines()[0]


def _drive(ray: Any, actors: dict[str, Any], *, quiet: bool) -> int:
    """Start every actor, show progress until all end (or Ctrl-C stops them), print the summaries."""
    failed: dict[str, str] = {}
    bars: dict[str, tqdm[Any]] = {}
    starts = {name: actor.start.remote() for name, actor in actors.items()}  # all load at once
    for name, ref in starts.items():
        info, error = _ask(ray, ref, STARTUP_TIMEOUT_S)
        if error is not None:
            failed[name] = error
            print(f"{name}: {error}", file=sys.stderr, flush=True)
            continue
        bars[name] = tqdm(total=info["total"], desc=f"{name} @{info['node'][:8]}", unit="frame",
                          file=sys.stderr, disable=quiet, position=len(bars), leave=True)
    try:
        failed.update(_follow(ray, {n: actors[n] for n in bars}, bars))
    except KeyboardInterrupt:
        print("\nstopping every pipeline…", file=sys.stderr, flush=True)
    stops = {n: actors[n].stop.remote() for n in bars if n not in failed}
    for bar in bars.values():
        bar.close()
    for name, ref in stops.items():
        summary, error = _ask(ray, ref, RPC_TIMEOUT_S * 3)
        if error is None and summary.get("error"):
            error = summary["error"]
        print(describe_summary(summary) if summary else f"{name}: {error}", flush=True)
        if error is not None:
            failed[name] = error
    for name in failed.keys() - stops.keys():
        print(f"{name}: failed: {failed[name]}", flush=True)
    for actor in actors.values():
        ray.kill(actor)
    return 1 if failed else 0


def _follow(ray: Any, actors: dict[str, Any], bars: dict[str, Any]) -> dict[str, str]:
    """Update the bars until every actor's run has ended; the actors lost on the way, with why."""
    left, lost = dict(actors), {}
    while left:
        time.sleep(POLL_S)
        asked = {name: actor.progress.remote() for name, actor in left.items()}
        for name, ref in asked.items():
            report, error = _ask(ray, ref, RPC_TIMEOUT_S)
            if error is not None:
                lost[name] = error
                del left[name]
                continue
            bar = bars[name]
            bar.update(report["frames"] - bar.n)
            bar.set_postfix_str(f"{report['fps']:.1f} fps", refresh=False)
            if report["done"]:
                del left[name]
    return lost


def describe_summary(s: dict[str, Any]) -> str:
    """One line per source: frames, fps, unique totals, lines, outputs, MQTT, error."""
    if "frames" not in s:
        return f"{s['name']}: did not start"
    totals = ", ".join(f"{k} {v}" for k, v in s["totals"].items()) or "none"
    parts = [f"{s['name']} (node {s['node'][:8]}): {s['frames']} frames", f"{s['fps']:.1f} fps",
             f"dropped {s['dropped']}", f"unique: {totals}"]
    parts += [f"line {k} in {v['in']} out {v['out']}" for k, v in s["lines"].items()]
    parts += [f"saved {path}" for path in s["outputs"]]
    parts += [f"MQTT {m['broker']}: {m['sent']} sent, {m['dropped']} dropped" for m in s["mqtt"]]
    if s.get("error"):
        parts.append(f"error: {s['error']}")
    return " · ".join(parts)
