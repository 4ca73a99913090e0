"""`serve --ray` and `run --ray`: the command-line side of :mod:`visioncast.scale`. I/O: prints, the cluster.

* ``serve --ray ADDRESS --replicas N|MIN-MAX``: :func:`start_ray` (a serve start-up step, before the models
  load) makes the server's models run in Ray Serve deployments and :func:`place_streams` its streams run as
  pipeline actors; everything else of ``serve`` is unchanged.
* ``run --ray ADDRESS -i SRC -i SRC …``: :func:`run_on_ray` starts one pipeline actor per source, spread over
  the nodes, shows one progress line per source, stops them all on Ctrl-C and prints each one's summary.

Streams and sources share the pipeline actor and its supervisor (:mod:`visioncast.scale.supervisor`): a lost
actor is started again up to ``ray.actor_restarts`` times (a camera resumes live, a file starts again from
its first frame).

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from tqdm import tqdm

from visioncast.errors import InputError, VisioncastError
from visioncast.sources import CAMERA_WORDS

if TYPE_CHECKING:
    from flask import Flask

    from visioncast.config import Config
    from visioncast.tasks.base import Task, TaskOptions

POLL_S = 0.5
STARTUP_TIMEOUT_S = 120.0  # loading a model and opening a camera on a busy node
STOP_TIMEOUT_S = 30.0  # finalising a video file and handing the MQTT push its queue
ACTOR_PREFIX = "visioncast-run-"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ServeContext(Protocol):
    """What the serve start-up steps here use of ``cli.serve.ServeContext``."""

    config: Config
    app: Flask
    out: TextIO


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
    ray = connect(settings.address, token=settings.auth_token)
    deployments = ServeDeployments(replicas, replica_cpus=settings.replica_cpus,
                                   timeout_s=settings.timeout_s, deploy_timeout_s=settings.deploy_timeout_s,
                                   engine=ctx.config.models.engine)
    services = ctx.app.extensions["visioncast"]
    services.runtime_opener = deployments.open
    services.on_close.append(deployments.close)
    bounds = str(replicas.low) if replicas.fixed else f"{replicas.low}–{replicas.high} (autoscaling)"
    print(f"Ray cluster {settings.address}: {cluster_summary(ray)}; models run as Serve deployments with "
          f"{bounds} replica(s) of {settings.replica_cpus:g} CPU", file=ctx.out, flush=True)


def place_streams(ctx: ServeContext) -> None:
    """Serve start-up step (after :func:`start_ray`): with --ray, a stream started from the streams page or
    ``POST /api/v1/streams`` runs as a pipeline actor on a node of the cluster (unless its source is a camera
    of this machine or the request says ``"placement": "local"``); the server keeps a proxy that feeds its
    MQTT push, statistics and MJPEG view. ``ray.actor_cpus`` and ``ray.actor_restarts`` apply as for `run`."""
    settings = ctx.config.ray
    if not settings.address:
        return
    from visioncast.scale.cluster import connect  # noqa: PLC0415 — the extra, only with --ray
    from visioncast.scale.stream import RayStreams  # noqa: PLC0415
    from visioncast.server.streams.registry import registry  # noqa: PLC0415 — Flask only for serve

    connect(settings.address, token=settings.auth_token)  # start_ray joined it: the same connection
    registry(ctx.app).placer = RayStreams(ctx.config.models, actor_cpus=settings.actor_cpus,
                                          max_restarts=settings.actor_restarts)
    print(f"streams run on the cluster as actors of {settings.actor_cpus:g} CPU (restarted up to "
          f"{settings.actor_restarts} times); cameras of this machine stay here", file=ctx.out, flush=True)


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


def run_on_ray(args: argparse.Namespace, cfg: Config, task: Task, task_options: TaskOptions) -> int:
    """`run` on Ray (ray.address, or several -i): the pipelines as actors; 0 when every source ended well."""
    from visioncast.pipeline.build import analytics_for  # noqa: PLC0415

    if not cfg.ray.address:
        raise InputError("several -i sources run as Ray actors: add --ray ADDRESS (auto, host:port, local)")
    if args.serve is not None:
        raise InputError("--serve (the live dashboard) is not available with --ray; use --mqtt or -o")
    # each actor's engine uses the CPUs it reserved, not every core of its node (unless --threads says)
    threads = args.threads or max(1, round(cfg.ray.actor_cpus))
    cfg = dataclasses.replace(cfg, models=dataclasses.replace(cfg.models, threads=threads))
    analytics_for(cfg.pipeline, "check", task.task)  # a bad --line/--zone/--event fails before the cluster
    jobs = per_source_args(args)
    from visioncast.scale.cluster import cluster_summary, connect  # noqa: PLC0415 — imports Ray
    from visioncast.scale.supervisor import PipelineActors  # noqa: PLC0415

    ray = connect(cfg.ray.address, token=cfg.ray.auth_token)
    print(f"Ray cluster {cfg.ray.address}: {cluster_summary(ray)}; {len(jobs)} pipeline actor(s)", flush=True)
    spawn = PipelineActors(cfg.models, actor_cpus=cfg.ray.actor_cpus).spawner(task, task_options)
    run_id = uuid.uuid4().hex[:8]
    runs = [ActorRun(job, position) for position, job in enumerate(jobs)]
    for run in runs:
        run.supervise(spawn, cfg, label=f"{ACTOR_PREFIX}{run_id}-{run.job.name}", quiet=args.quiet)
    return _drive(runs)


@dataclass
class ActorRun:
    """One source as the driver sees it: its flags, its supervisor, its progress bar."""

    job: argparse.Namespace
    position: int
    sup: Any = None
    bar: Any = None
    quiet: bool = False
    error: str | None = None

    def supervise(self, spawn: Any, cfg: Config, *, label: str, quiet: bool) -> None:
        """Its supervisor (actors named ``label-N`` so that `ray list actors` tells the sources apart)."""
        from visioncast.scale.pipeline_actor import ActorOutputs  # noqa: PLC0415 — imports Ray
        from visioncast.scale.supervisor import Supervisor  # noqa: PLC0415

        job, self.quiet = self.job, quiet
        push = None
        if cfg.mqtt.enabled and (job.mqtt or job.mqtt_preset):  # its own status topic, as `run` has
            push = dataclasses.replace(cfg.mqtt, instance=f"run-{job.name}")
        outputs = ActorOutputs(stream=False, video=job.output, jsonl=job.jsonl, mqtt=push,
                               max_frames=job.max_frames)
        self.sup = Supervisor(spawn, (job.input, cfg.pipeline, job.name, outputs), label=label, what=job.name,
                              max_restarts=cfg.ray.actor_restarts, start_timeout_s=STARTUP_TIMEOUT_S,
                              stop_timeout_s=STOP_TIMEOUT_S, on_start=self.show)

    def show(self, info: dict[str, Any]) -> None:
        """(Re)draw the bar for a started actor (a restarted file counts from its start again)."""
        desc = f"{self.job.name} @{info['node'][:8]}"
        if self.bar is None:
            self.bar = tqdm(total=info["total"], desc=desc, unit="frame", file=sys.stderr, disable=self.quiet,
                            position=self.position, leave=True)
            return
        tqdm.write(f"{self.job.name}: {self.sup.last_loss}; restarted "
                   f"({self.sup.restarts}/{self.sup.max_restarts})", file=sys.stderr)
        self.bar.reset(total=info["total"])
        self.bar.set_description(desc, refresh=False)

    def follow(self) -> bool:
        """One look at the actor: the bar updated; True once its run has ended (well or not)."""
        try:
            report = self.sup.call("pull", None)
        except VisioncastError as exc:
            self.error = str(exc)
            return True
        if report is None:  # lost and restarted
            return False
        self.bar.update(report["counters"]["frames_out"] - self.bar.n)
        restarts = f", restarts {self.sup.restarts}" if self.sup.restarts else ""
        self.bar.set_postfix_str(f"{report['stats']['fps']:.1f} fps{restarts}", refresh=False)
        return bool(report["done"])


def _drive(runs: list[ActorRun]) -> int:
    """Start every actor, show progress until all end (the supervisors restart lost ones; Ctrl-C stops
    them), print the summaries."""
    def launch(run: ActorRun) -> None:
        try:
            run.sup.launch()
        except VisioncastError as exc:
            run.error = str(exc)
            print(f"{run.job.name}: {exc}", file=sys.stderr, flush=True)

    with ThreadPoolExecutor(len(runs)) as pool:  # all load at once
        list(pool.map(launch, runs))
    started = [run for run in runs if run.error is None]
    try:
        left = list(started)
        while left:
            time.sleep(POLL_S)
            left = [run for run in left if not run.follow()]
    except KeyboardInterrupt:
        print("\nstopping every pipeline…", file=sys.stderr, flush=True)
    summaries = {run.job.name: run.sup.stop() for run in started if run.error is None}
    for run in started:
        run.bar.close()
    for run in runs:
        summary = summaries.get(run.job.name)
        if summary:
            summary["restarts"] = run.sup.restarts
            run.error = run.error or summary.get("error")
            print(describe_summary(summary), flush=True)
        elif run.error is None:
            run.error = "its actor did not answer the stop"
        if run.error is not None and not summary:
            print(f"{run.job.name}: failed: {run.error}", flush=True)
        run.sup.kill()
    return 1 if any(run.error is not None for run in runs) else 0


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
