"""`visioncast run`: the edge pipeline on an image, a video, a folder, a camera or a stream. I/O: everything.

Source → task (any model: detect, classify…) → tracking/counting → outputs (annotated image/video, JSON
lines, MQTT, a live dashboard), all through the pipeline's one delivery bus. With a classify model every
frame's top classes are the result and the statistics count the top labels (tracking, lines and zones need
boxes; a --line or --zone with a classify model is an error).
A progress bar for files; a one-line live status (FPS, latency, dropped) for cameras and streams; events
("danger begin at 12.30 seconds") printed as they happen. Ctrl-C stops cleanly and finalises the files.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from visioncast.analytics import StatsSnapshot, describe_event
from visioncast.cli.options import add_model_options, load_config, port_number
from visioncast.cli.scale import InputsAction, add_ray_run_options, ray_overrides, run_on_ray
from visioncast.config import Config
from visioncast.errors import InputError
from visioncast.lang import LANGS
from visioncast.models import load_configured
from visioncast.models.labels import class_ids
from visioncast.pipeline import Pipeline
from visioncast.pipeline.build import analytics_for, open_pipeline
from visioncast.sinks import Sink, open_mqtt_sink
from visioncast.sinks.jsonl import JsonlSink
from visioncast.sinks.mjpeg import MjpegBroadcaster
from visioncast.sinks.video import VideoFileSink
from visioncast.sources import Source, open_source
from visioncast.tasks.base import Task, TaskOptions

if TYPE_CHECKING:
    from visioncast.sinks.mqtt import MqttSink  # paho loads only when MQTT is asked for

CONNECT_WAIT_S = 3.0  # how long `run` waits for the MQTT broker before reading the source
EPILOG = """\
sources: photo.jpg | video.mp4 | folder/ | CAM (or 0, 1…) | rtsp://… | http(s)://…/stream.mjpg
lines:   --line 0,300,768,300[:door]          in = crossing from left to right of x1,y1 → x2,y2
zones:   --zone 10,10,300,10,300,200,10,200[:queue]   occupancy = boxes whose bottom-centre is inside
events:  --event person            --event '!person:empty'        --event 'person>=3:danger'
         prints 'danger begin at 12.30 seconds' / 'danger end at …' and publishes them
example: visioncast run -i CAM --mqtt mqtt://127.0.0.1:1883 --mqtt-preset people-counter --serve 8080
"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = sub.add_parser(
        "run",
        help="run the edge pipeline: detect or classify, track, count, publish, stream",
        description="Run the edge pipeline on an image, video, folder, camera or stream.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-i", "--input", required=True, action=InputsAction, metavar="SOURCE",
                   help="what to read (see below); repeat it with --ray for one pipeline actor per source")
    add_model_options(p)
    add_output_options(p)
    add_pipeline_options(p)
    add_ray_run_options(p)
    p.set_defaults(handler=run)


def add_output_options(p: argparse.ArgumentParser) -> None:
    """-o, --jsonl, --mqtt…, --serve, --lang: where ``run``'s results go."""
    g = p.add_argument_group("outputs")
    g.add_argument(
        "--name", help="source name in stats, MQTT topics and the dashboard (default: from SOURCE)"
    )
    g.add_argument("-o", "--output", metavar="OUT",
                   help="annotated video (.mp4/.avi/.webm) or image (image input)")
    g.add_argument(
        "--jsonl", metavar="FILE", help="JSON lines of per-frame results, stats and events (- = stdout)"
    )
    g.add_argument(
        "--mqtt",
        metavar="URL|off",
        help="publish every frame's result, stats and events to this broker "
        "(mqtt://[user:pass@]host[:port]); off = never (default: only with --mqtt-preset)",
    )
    g.add_argument(
        "--mqtt-preset",
        choices=("siot", "people-counter"),
        help="topic layout; people-counter publishes person {count,total} and person/duration",
    )
    g.add_argument("--mqtt-policy", choices=("every", "change", "rate"),
                   help="every result, on change only (debounced), or at most mqtt.max_rate_hz per second "
                        "(default: change with the siot preset, else every)")
    g.add_argument("--ha-discovery", action="store_true", default=None,
                   help="announce labels and counts to Home Assistant (MQTT discovery)")
    g.add_argument("--serve", type=port_number, metavar="PORT",
                   help="live dashboard with the MJPEG stream on PORT")
    g.add_argument("--host", default="127.0.0.1", help="dashboard address (default 127.0.0.1)")
    g.add_argument("--lang", choices=LANGS, help="language of the text drawn on frames (default: "
                   "config pipeline.lang, else the locale's)")


def add_pipeline_options(p: argparse.ArgumentParser) -> None:
    """Frame mode, lines/zones/events, tracking, limits: how ``run``'s pipeline processes."""
    a = p.add_argument_group("pipeline")
    mode = a.add_mutually_exclusive_group()
    mode.add_argument(
        "--every-frame",
        dest="mode",
        action="store_const",
        const="every",
        help="process every frame (default for files)",
    )
    mode.add_argument(
        "--latest-frame",
        dest="mode",
        action="store_const",
        const="latest",
        help="always the newest frame, skipping stale ones (default for cameras and streams)",
    )
    a.add_argument("--line", action="append", metavar="x1,y1,x2,y2[:NAME]", help="counting line (repeatable)")
    a.add_argument(
        "--zone", action="append", metavar="x,y,x,y,x,y…[:NAME]", help="occupancy zone (repeatable)"
    )
    a.add_argument("--event", action="append", metavar="COND[:NAME]", help="state event (repeatable)")
    a.add_argument("--event-hold", type=float, metavar="SECONDS",
                   help="a state change counts once it has lasted this long (debounce; default 0)")
    a.add_argument("--no-track", action="store_true", help="no tracking (no totals, dwell or line counts)")
    a.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    a.add_argument(
        "--realtime",
        action=argparse.BooleanOptionalAction,
        help="play a file at its own frame rate (default: on with --serve, so the dashboard shows the "
        "video at its speed; off otherwise: as fast as possible)",
    )
    a.add_argument("--quiet", action="store_true", help="no progress bar or status line")


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted config keys set by the run flags (None = not given)."""
    over: dict[str, Any] = {
        "pipeline.mode": args.mode,
        "pipeline.lines": tuple(args.line) if args.line else None,
        "pipeline.zones": tuple(args.zone) if args.zone else None,
        "pipeline.events": tuple(args.event) if args.event else None,
        "pipeline.event_hold_s": args.event_hold,
        "pipeline.track": False if args.no_track else None,
        "pipeline.realtime": args.realtime,
        "pipeline.lang": args.lang,
        "mqtt.preset": args.mqtt_preset,
        "mqtt.policy": args.mqtt_policy,
        "mqtt.ha_discovery": args.ha_discovery,
        **ray_overrides(args),
    }
    if args.mqtt and args.mqtt.lower() == "off":
        over["mqtt.enabled"] = False
    elif args.mqtt:
        over.update({"mqtt.url": args.mqtt, "mqtt.enabled": True})
    return over


def open_task(cfg: Config, args: argparse.Namespace) -> tuple[Task, TaskOptions]:
    """The model of -m (default: the configured detector), whatever its task, and the options of --classes.
    Pose and face models keep their own thresholds (MoveNet 0.25, YuNet 0.7); the pipeline runs the task's
    stream form (MoveNet follows the person from frame to frame)."""
    model = load_configured(cfg.models, args.model, task=None if args.model else "detect")
    if args.classes and model.task != "detect":
        raise InputError(f"--classes filters detections; it does not apply to a {model.task} model")
    return model, TaskOptions(classes=class_ids(args.classes, model.labels, model.name, field="--classes"))


def open_outputs(args: argparse.Namespace, source: Source, cfg: Config) -> list[Sink]:
    sinks: list[Sink] = []
    if args.output:
        sinks.append(VideoFileSink(args.output, fps=source.fps, still=bool(getattr(source, "still", False))))
    if args.jsonl:
        sinks.append(JsonlSink(args.jsonl, stream=sys.stdout if args.jsonl == "-" else None))
    if args.serve is not None:
        sinks.append(MjpegBroadcaster(quality=cfg.pipeline.jpeg_quality))
    return sinks


def open_push(args: argparse.Namespace, cfg: Config) -> MqttSink | None:
    if not cfg.mqtt.enabled or not (args.mqtt or args.mqtt_preset):
        return None
    name = args.name or Path(str(args.input)).stem or "run"
    # its own status topic ({prefix}/run-<name>/status): the server's stays online when the run ends
    sink = open_mqtt_sink(replace(cfg.mqtt, instance=f"run-{name}"), wait_s=CONNECT_WAIT_S)
    if not sink.connected.is_set():  # a short file would otherwise be over before it connects
        print(f"visioncast: MQTT broker {sink.cfg.host}:{sink.cfg.port} not connected yet"
              f"{f' ({sink.error})' if sink.error else ''}; messages count as dropped until it is",
              file=sys.stderr, flush=True)
    return sink


def report_push(sink: MqttSink, out: Any) -> None:
    """Hand what is queued to the broker (a few seconds at most), close, say what was sent, dropped and lost
    (handed over but not acknowledged at QoS 1 by the flush timeout)."""
    sink.flush()
    sink.close()  # what the broker has not acknowledged by now is counted as lost
    c = sink.status()
    print(f"MQTT {c['broker']}: {c['sent']} messages sent, {c['dropped']} dropped "
          f"(queue full {c['dropped_queue_full']}, disconnected {c['dropped_disconnected']}, "
          f"refused {c['dropped_error']}), {c['lost']} lost (not acknowledged within "
          f"{sink.cfg.flush_timeout_s:g} s), {c['skipped']} skipped by the policy", file=out, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames must be at least 1, got {args.max_frames}")
    cfg = load_config(args, overrides(args))
    analytics_for(cfg.pipeline, "check")  # a bad --line/--zone/--event fails before the model loads
    task, task_options = open_task(cfg, args)
    if cfg.ray.address or len(args.inputs) > 1:
        return run_on_ray(args, cfg, task, task_options)
    analytics_for(cfg.pipeline, "check", task.task)  # lines and zones need boxes
    source = open_source(args.input, fps=cfg.pipeline.folder_fps)
    if args.realtime is None and args.serve is not None and not source.live:
        cfg = replace(cfg, pipeline=replace(cfg.pipeline, realtime=True))
    mqtt: MqttSink | None = None
    server = None
    try:
        sinks = open_outputs(args, source, cfg)
        mqtt = open_push(args, cfg)
        pipeline = open_pipeline(source, task, cfg.pipeline, name=args.name, sinks=sinks,
                                 shared=[mqtt] if mqtt else [], max_frames=args.max_frames,
                                 task_options=task_options)
        if args.serve is not None:
            server = _serve(args, cfg, pipeline, next(s for s in sinks if isinstance(s, MjpegBroadcaster)))
        code = _run_with_progress(pipeline, args)
        if server is not None and code == 0 and not source.live:
            _wait_for_ctrl_c(server.url)
        return code
    finally:  # the reverse of the start: HTTP, then the pipeline's source, then the push
        if server is not None:
            server.stop()
        source.close()
        if mqtt is not None:  # shared with the pipeline, so not closed by it: flush, close, report
            report_push(mqtt, sys.stderr if args.jsonl == "-" else sys.stdout)


def _serve(args: argparse.Namespace, cfg: Config, pipeline: Pipeline, broadcaster: MjpegBroadcaster) -> Any:
    from visioncast.server.app import create_app  # noqa: PLC0415 — Flask only with --serve
    from visioncast.server.streams.registry import registry  # noqa: PLC0415
    from visioncast.server.wsgi import HttpServer  # noqa: PLC0415

    # access control needs the address the dashboard really listens on
    app = create_app(replace(cfg, server=replace(cfg.server, host=args.host)))
    entry = registry(app).attach(pipeline, broadcaster, stream_id="local", model=pipeline.task.name)
    server = HttpServer(app, args.host, args.serve, workers=max(cfg.server.workers, 16))
    server.start_in_thread()
    pace = ""
    if pipeline.options.realtime and not pipeline.source.live:
        pace = f"\nplaying at the file's {pipeline.source.fps:g} fps (--no-realtime: as fast as possible)"
    print(
        f"dashboard: {server.url}/streams/{entry.stream_id}  (MJPEG: {server.url}{entry.mjpeg_path}){pace}",
        flush=True,
    )
    return server


def _wait_for_ctrl_c(url: str) -> None:
    print(f"finished; the dashboard stays up at {url} — Ctrl-C to quit", flush=True)
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


def _run_with_progress(pipeline: Pipeline, args: argparse.Namespace) -> int:
    source = pipeline.source
    show = not args.quiet and args.jsonl != "-"
    total = source.frame_count if not source.live else None
    if args.max_frames and total:
        total = min(total, args.max_frames)
    bar = tqdm(total=total, unit="frame", file=sys.stderr, disable=not show or source.live, leave=True)
    status = _StatusLine(enabled=show and source.live)

    def on_frame(stats: StatsSnapshot, events: list[dict[str, Any]]) -> None:
        for event in events:
            (bar.write if not bar.disable else status.write)(describe_event(event))
        bar.update(1)
        status.show(stats)

    pipeline.on_frame = on_frame
    try:
        stats = pipeline.run()
    except KeyboardInterrupt:
        bar.close()
        status.end()
        print("visioncast: stopped; outputs finalised", file=sys.stderr)
        return 130
    bar.close()
    status.end()
    for event in pipeline.final_events:
        print(describe_event(event), file=sys.stderr if args.jsonl == "-" else sys.stdout)
    _summary(pipeline, stats, args)
    for name, failure in pipeline.sink_status().items():  # the run went on; the exit code says it
        print(f"visioncast: error: output {name} failed {failure['failed']} times "
              f"(last: {failure['last_error']})", file=sys.stderr, flush=True)
    return 1 if pipeline.sink_status() else 0


class _StatusLine:
    """One rewritten stderr line for live sources: FPS, latency, dropped, counts (at most 4 updates/s)."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0

    def show(self, stats: StatsSnapshot) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.25:
            return
        self._last = now
        counts = " ".join(f"{k} {v}" for k, v in stats["counts"].items()) or "nothing"
        sys.stderr.write(
            f"\r{stats['fps']:5.1f} fps · {stats['latency_ms']:6.1f} ms · dropped "
            f"{stats['dropped']} · {counts}\x1b[K"
        )
        sys.stderr.flush()

    def write(self, text: str) -> None:
        sys.stderr.write("\r\x1b[K" if self.enabled else "")
        print(text, flush=True)

    def end(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _summary(pipeline: Pipeline, stats: StatsSnapshot, args: argparse.Namespace) -> None:
    out = sys.stderr if args.jsonl == "-" else sys.stdout
    c = pipeline.counters()
    totals = ", ".join(f"{k} {v}" for k, v in stats["totals"].items()) or "none"
    what = "unique" if pipeline.task.task == "detect" else "frames by top label"
    print(
        f"{c['frames_out']} frames · {stats['fps']:.1f} fps · dropped {pipeline.dropped} "
        f"(stale {c['stale']}, bad {c['bad_frames']}, failed {c['failed']}, gaps {c['gaps']}) · "
        f"{what}: {totals}",
        file=out,
    )
    for name, line in stats["lines"].items():
        print(f"line {name}: in {line['in']} out {line['out']}", file=out)
    for sink in pipeline.sinks:
        if isinstance(sink, VideoFileSink):
            print(f"saved {sink.path} ({sink.frames} {'image' if sink.still else 'frames'})", file=out)
    out.flush()
