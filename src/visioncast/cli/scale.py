"""`serve --ray` and `run --ray`: the command-line side of :mod:`visioncast.scale`. I/O: prints, the cluster.

* ``serve --ray ADDRESS --replicas N|MIN-MAX``: :func:`start_ray` (a serve start-up step, before the models
  load) makes the server's models run in Ray Serve deployments; everything else of ``serve`` is unchanged.
* ``run --ray ADDRESS -i SRC -i SRC …``: :func:`run_on_ray` starts one pipeline actor per source, spread over
  the nodes, shows one progress line per source, starts a lost actor again (up to ``ray.actor_restarts``
  times per source; a camera resumes live, a file starts again from its first frame), stops them all on
  Ctrl-C and prints each one's summary.

The flags are the ``[ray]`` section of the config (:func:`ray_overrides`); a flag wins. Without an address
nothing here imports Ray (``visioncast.scale`` is imported inside the functions).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from visioncast.errors import InputError
from visioncast.sources import CAMERA_WORDS

if TYPE_CHECKING:
    from visioncast.cli.serve import ServeContext
    from visioncast.config import Config

POLL_S = 0.5
RPC_TIMEOUT_S = 10.0
STARTUP_TIMEOUT_S = 120.0  # loading a model and opening a camera on a busy node
ACTOR_PREFIX = "visioncast-run-"
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
                        "host:6379, ray://host:10001, local (a private one), off (ray.address)")
    g.add_argument("--replicas", metavar="N|MIN-MAX",
                   help="replicas per model: N, or MIN-MAX to autoscale (default 1; ray.replicas)")
    g.add_argument("--replica-cpus", type=float, metavar="CPUS",
                   help="CPUs each replica reserves and its engine threads (default 1; ray.replica_cpus)")
    add_actor_options(g, "each stream placed on the cluster")


def add_ray_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("ray (pip install 'visioncast[ray]')")
    g.add_argument("--ray", metavar="ADDRESS", help="one pipeline actor per -i source on this Ray cluster "
                   "(auto, host:6379, ray://host:10001, local, off; ray.address); -o/--jsonl then take "
                   "{name}")
    add_actor_options(g, "each source")


def add_actor_options(g: argparse._ArgumentGroup, whose: str) -> None:
    """The pipeline actors' flags, the same for `run`'s sources and `serve`'s streams."""
    g.add_argument("--actor-cpus", type=float, metavar="CPUS",
                   help=f"CPUs the pipeline actor of {whose} reserves, and its engine's threads "
                        "(default 1; ray.actor_cpus)")
    g.add_argument("--actor-restarts", type=int, metavar="N",
                   help=f"start the lost pipeline actor of {whose} again up to N times (default 3; "
                        "ray.actor_restarts)")


def ray_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted config keys set by the --ray flags of `serve` and `run` (None = not given; --ray off = "")."""
    address = getattr(args, "ray", None)
    return {
        "ray.address": "" if address is not None and address.lower() == "off" else address,
        "ray.replicas": getattr(args, "replicas", None),
        "ray.replica_cpus": getattr(args, "replica_cpus", None),
        "ray.actor_cpus": getattr(args, "actor_cpus", None),
        "ray.actor_restarts": getattr(args, "actor_restarts", None),
    }


def start_ray(ctx: ServeContext) -> None:
    """Serve start-up step: with ray.address (--ray), the app's models open as Ray Serve deployments."""
    settings = ctx.config.ray
    if not settings.address:
        return
    from visioncast.scale.cluster import cluster_summary, connect, parse_replicas  # noqa: PLC0415 — extra
    from visioncast.scale.deployment import ServeDeployments  # noqa: PLC0415

    replicas = parse_replicas(settings.replicas)
    ray = connect(settings.address)
    deployments = ServeDeployments(replicas, replica_cpus=settings.replica_cpus,
                                   timeout_s=settings.timeout_s, deploy_timeout_s=settings.deploy_timeout_s,
                                   engine=ctx.config.models.engine)
    services = ctx.app.extensions["visioncast"]
    services.runtime_opener = deployments.open
    services.on_close.append(deployments.close)
    bounds = str(replicas.low) if replicas.fixed else f"{replicas.low}–{replicas.high} (autoscaling)"
    print(f"Ray cluster {settings.address}: {cluster_summary(ray)}; models run as Serve deployments with "
          f"{bounds} replica(s) of {settings.replica_cpus:g} CPU", file=ctx.out, flush=True)


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


def run_on_ray(args: argparse.Namespace, cfg: Config) -> int:
    """`run` on Ray (ray.address, or several -i): the pipelines as actors; 0 when every source ended well."""
    from visioncast.pipeline.build import analytics_for  # noqa: PLC0415

    if not cfg.ray.address:
        raise InputError("several -i sources run as Ray actors: add --ray ADDRESS (auto, host:port, local)")
    if args.serve is not None:
        raise InputError("--serve (the live dashboard) is not available with --ray; use --mqtt or -o")
    # each actor's engine uses the CPUs it reserved, not every core of its node (unless --threads says)
    threads = args.threads or max(1, round(cfg.ray.actor_cpus))
    cfg = dataclasses.replace(cfg, models=dataclasses.replace(cfg.models, threads=threads))
    analytics_for(cfg.pipeline, "check")  # a bad --line/--zone/--event fails before the cluster is used
    jobs = per_source_args(args)
    from visioncast.cli.run_actor import PipelineWorker  # noqa: PLC0415 — imports Ray
    from visioncast.scale.cluster import cluster_summary, connect  # noqa: PLC0415

    ray = connect(cfg.ray.address)
    print(f"Ray cluster {cfg.ray.address}: {cluster_summary(ray)}; {len(jobs)} pipeline actor(s)", flush=True)
    worker = ray.remote(num_cpus=cfg.ray.actor_cpus, max_restarts=0)(PipelineWorker)
    run_id = uuid.uuid4().hex[:8]

    def spawn(run: ActorRun) -> Any:
        # named so that `ray list actors` (and a test) can tell the sources apart; a restart gets a new name
        name = f"{ACTOR_PREFIX}{run_id}-{run.job.name}-{run.restarts}"
        return worker.options(scheduling_strategy="SPREAD", name=name).remote(run.job, cfg)

    runs = {job.name: ActorRun(job, spawn) for job in jobs}
    return _drive(ray, runs, max_restarts=cfg.ray.actor_restarts, quiet=args.quiet)


@dataclass
class ActorRun:
    """One source as the driver sees it: its flags, its current actor, its progress bar, its restarts."""

    job: argparse.Namespace
    spawn: Callable[[ActorRun], Any]
    actor: Any = None
    bar: Any = None
    restarts: int = 0

    def start(self) -> Any:
        """A new actor for this source, asked to start: the reference to its answer."""
        self.actor = self.spawn(self)
        return self.actor.start.remote()

    def show(self, info: dict[str, Any], *, quiet: bool, position: int = 0) -> None:
        """(Re)draw the bar (on line ``position``) for a started actor (a restarted file counts from its
        start again)."""
        desc = f"{self.job.name} @{info['node'][:8]}"
        if self.bar is None:
            self.bar = tqdm(total=info["total"], desc=desc, unit="frame", file=sys.stderr, disable=quiet,
                            position=position, leave=True)
        else:
            self.bar.reset(total=info["total"])
            self.bar.set_description(desc, refresh=False)


def _ask(ray: Any, ref: Any, timeout_s: float) -> tuple[Any, str | None, bool]:
    """(the actor's answer, None, False), or (None, one line saying why there is none, whether the actor
    itself is gone: its node or process died)."""
    try:
        return ray.get(ref, timeout=timeout_s), None, False
    except ray.exceptions.GetTimeoutError:
        return None, f"no answer within {timeout_s:g} s", False
    except ray.exceptions.RayActorError as exc:
        return None, f"actor lost ({type(exc).__name__}: its node or process died)", True
    except ray.exceptions.RayTaskError as exc:
        return None, str(exc.cause or exc).splitlines()[0], False


def _drive(ray: Any, runs: dict[str, ActorRun], *, max_restarts: int, quiet: bool) -> int:
    """Start every actor, show progress until all end (restarting lost ones, or Ctrl-C stops them), print
    the summaries."""
    failed: dict[str, str] = {}
    starts = {name: run.start() for name, run in runs.items()}  # all load at once
    started: dict[str, ActorRun] = {}
    for name, ref in starts.items():
        info, error, _gone = _ask(ray, ref, STARTUP_TIMEOUT_S)
        if error is not None:
            failed[name] = error
            print(f"{name}: {error}", file=sys.stderr, flush=True)
            continue
        runs[name].show(info, quiet=quiet, position=len(started))
        started[name] = runs[name]
    try:
        failed.update(_follow(ray, started, max_restarts, quiet=quiet))
    except KeyboardInterrupt:
        print("\nstopping every pipeline…", file=sys.stderr, flush=True)
    stops = {n: run.actor.stop.remote() for n, run in started.items() if n not in failed}
    for run in started.values():
        run.bar.close()
    for name, ref in stops.items():
        summary, error, _gone = _ask(ray, ref, RPC_TIMEOUT_S * 3)
        if summary:
            summary["restarts"] = runs[name].restarts
            error = error or summary.get("error")
        print(describe_summary(summary) if summary else f"{name}: {error}", flush=True)
        if error is not None:
            failed[name] = error
    for name in failed.keys() - stops.keys():
        print(f"{name}: failed: {failed[name]}", flush=True)
    for run in runs.values():
        if run.actor is not None:
            ray.kill(run.actor)
    return 1 if failed else 0


def _follow(ray: Any, runs: dict[str, ActorRun], max_restarts: int, *, quiet: bool) -> dict[str, str]:
    """Update the bars until every actor's run has ended, restarting lost actors up to ``max_restarts``
    times per source; the sources given up on the way, with why."""
    left, lost = dict(runs), {}
    while left:
        time.sleep(POLL_S)
        asked = {name: run.actor.progress.remote() for name, run in left.items()}
        for name, ref in asked.items():
            run = left[name]
            report, error, gone = _ask(ray, ref, RPC_TIMEOUT_S)
            if gone:
                error = _restart(ray, run, error or "", max_restarts, quiet=quiet)
                if error is None:
                    continue
            if error is not None:
                lost[name] = error
                del left[name]
                continue
            run.bar.update(report["frames"] - run.bar.n)
            restarts = f", restarts {run.restarts}" if run.restarts else ""
            run.bar.set_postfix_str(f"{report['fps']:.1f} fps{restarts}", refresh=False)
            if report["done"]:
                del left[name]
    return lost


def _restart(ray: Any, run: ActorRun, why: str, max_restarts: int, *, quiet: bool) -> str | None:
    """Start a new actor for a source whose actor was lost (Ray places it, on another node if its node
    went); None once one runs, else why not. A file starts again from its first frame (docs/scale.md)."""
    name = run.job.name
    while run.restarts < max_restarts:
        run.restarts += 1
        ray.kill(run.actor)  # whatever is left of it (a hung process) frees its CPUs
        tqdm.write(f"{name}: {why}; restarting it ({run.restarts}/{max_restarts})", file=sys.stderr)
        info, error, gone = _ask(ray, run.start(), STARTUP_TIMEOUT_S)
        if error is None:
            run.show(info, quiet=quiet)
            return None
        if not gone:
            return f"restart {run.restarts} failed: {error}"
        why = error
    return f"{why}; gave up after {run.restarts} restart(s) (ray.actor_restarts = {max_restarts})"


def describe_summary(s: dict[str, Any]) -> str:
    """One line per source: frames, fps, unique totals, lines, outputs, MQTT, error."""
    if "frames" not in s:
        return f"{s['name']}: did not start"
    totals = ", ".join(f"{k} {v}" for k, v in s["totals"].items()) or "none"
    parts = [f"{s['name']} (node {s['node'][:8]}): {s['frames']} frames", f"{s['fps']:.1f} fps",
             f"dropped {s['dropped']}", f"restarts {s.get('restarts', 0)}", f"unique: {totals}"]
    parts += [f"line {k} in {v['in']} out {v['out']}" for k, v in s["lines"].items()]
    parts += [f"saved {path}" for path in s["outputs"]]
    parts += [f"MQTT {m['broker']}: {m['sent']} sent, {m['dropped']} dropped" for m in s["mqtt"]]
    if s.get("error"):
        parts.append(f"error: {s['error']}")
    return " · ".join(parts)
