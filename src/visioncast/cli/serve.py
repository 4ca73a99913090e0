"""`visioncast serve`: the HTTP service (API, pages, /metrics; server/wsgi.py). I/O: sockets, stdout.

Made to be extended with small edits by the features that plug into the server:

* a flag → one ``add_argument`` in :func:`add_server_options` and one line in :func:`config_overrides`;
* a step before listening (start a broker, attach a sink) → a function ``step(ctx)`` appended to ``STARTUP``;
  a step that starts something registers how to stop it with :meth:`ServeContext.on_stop`;
  a step after the port is open (print something) → ``AFTER_LISTEN``;
* TLS → :func:`make_server` passes an ``ssl_context`` to :class:`HttpServer`.

Start-up is explicit and ordered (``create_app`` builds the app and connects nothing): models load, then the
embedded MQTT broker starts, then the push connects to it, then pipelines/video jobs may run and the HTTP
port opens. Ctrl-C (or SIGTERM) stops them in reverse order — HTTP, pipelines and jobs, push, broker — each
with a "stopped …" line. Every request prints one line (time, client, method, path, status, latency, result
summary), like the seed's server window.
"""

from __future__ import annotations

import argparse
import logging
import signal
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import qrcode
from flask import Flask

from visioncast import __version__
from visioncast.broker import BrokerHandle, open_broker
from visioncast.cli.broker import (
    STOP_SIGNALS,
    add_push_options,
    broker_metrics,
    broker_options,
    print_broker,
    push_overrides,
)
from visioncast.cli.options import add_model_options, check_port, load_config
from visioncast.cli.scale import add_ray_serve_options, place_streams, ray_overrides, start_ray
from visioncast.config import Config
from visioncast.errors import ConfigError, InputError
from visioncast.network import ANY_HOSTS, lan_addresses, port_owner, port_taken
from visioncast.server.app import create_app
from visioncast.server.auth.core import auth_of
from visioncast.server.health import warm_up
from visioncast.server.metrics import access_log
from visioncast.server.push import routes as push
from visioncast.server.services import EXTENSION as SERVICES
from visioncast.server.tls import ensure_certificate, ssl_context
from visioncast.server.wsgi import HttpServer
from visioncast.sinks.push_target import is_local

CONNECT_WAIT_S = 3.0


@dataclass
class ServeContext:
    """What the startup steps share: the parsed flags, the config, the app, the output, the server."""

    args: argparse.Namespace
    config: Config
    app: Flask
    out: TextIO = field(default_factory=lambda: sys.stdout)
    server: HttpServer | None = None
    broker: BrokerHandle | None = None
    stopping: bool = False
    stops: list[tuple[str, Callable[[], str | None]]] = field(default_factory=list)

    def on_stop(self, name: str, stop: Callable[[], str | None]) -> None:
        """Register how to stop what a step started (``stop`` may return a detail for its line)."""
        self.stops.append((name, stop))

    def stop_all(self) -> None:
        """Stop everything started, newest first, one "stopped …" line each."""
        while self.stops:
            name, stop = self.stops.pop()
            detail = stop()
            print(f"stopped {name}{f': {detail}' if detail else ''}", file=self.out, flush=True)


Step = Callable[[ServeContext], None]


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = sub.add_parser("serve", help="run the HTTP service: JSON API, web pages, /metrics",
                       description="Run the HTTP service (API under /api/v1, pages, /openapi.json, "
                                   "/metrics). The default models load before the port opens.")
    add_server_options(p)
    add_push_options(p)
    add_model_options(p)
    add_ray_serve_options(p)
    p.set_defaults(handler=run)


def add_server_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("server")
    g.add_argument("--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 = every network, "
                                  "prints the LAN URLs and a QR code)")
    g.add_argument("--port", type=int, help="TCP port (default 5000; 0 = any free port)")
    g.add_argument("--detect-model", help="default detection model (default yolox-nano)")
    g.add_argument("--classify-model", help="default classification model (default resnet56-cifar10)")
    g.add_argument("--workers", type=int, help="request threads (default 8)")
    g.add_argument("--token", help="the teacher's sign-in token (default: the one kept in the data dir, made "
                                   "on first need; also VISIONCAST_SERVER__TOKEN or server.token)")
    g.add_argument("--tls", action="store_const", const="on", default=None,
                   help="serve https even on 127.0.0.1 (the default whenever --host reaches beyond this "
                        "computer: phones allow their camera only over https). The certificate is "
                        "self-signed, made on first use in the data dir, its SHA-256 fingerprint printed; "
                        "plain http on the same port explains the certificate warning")
    g.add_argument("--no-tls", dest="tls", action="store_const", const="off",
                   help="plain http only, even on the LAN (phones then take photos but get no live camera)")


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted config keys set by the serve flags (None = not given)."""
    return {
        "server.host": args.host,
        "server.port": args.port,
        "server.workers": args.workers,
        "server.tls": args.tls,
        "server.token": args.token,
        "models.detect": args.detect_model,
        "models.classify": args.classify_model,
        **push_overrides(args),
        **ray_overrides(args),
    }


def load_models(ctx: ServeContext) -> None:
    models = ctx.config.models
    print(f"visioncast {__version__}: loading {models.detect} (detect) and {models.classify} (classify) "
          f"on {models.engine}…", file=ctx.out, flush=True)
    print(f"models loaded in {warm_up(ctx.app):.1f} s", file=ctx.out, flush=True)


def print_qr(url: str, out: TextIO) -> None:
    """``url`` as a QR code drawn with text blocks, for a phone camera."""
    try:
        "█▀▄".encode(getattr(out, "encoding", None) or "utf-8")  # no encoding: text kept in memory
    except (UnicodeEncodeError, LookupError):  # e.g. a Windows console in an old code page
        print("(this terminal cannot draw the QR code; type the URL instead)", file=out)
        return
    qr = qrcode.QRCode(border=1)
    qr.add_data(url)
    qr.print_ascii(out=out, invert=True)


def print_urls(ctx: ServeContext) -> None:
    assert ctx.server is not None  # set by run() before AFTER_LISTEN
    server, out = ctx.server, ctx.out
    scheme, base = server.url.split(":", 1)[0], server.url
    if ctx.config.server.host in ANY_HOSTS:
        base = f"{scheme}://127.0.0.1:{server.port}"  # 0.0.0.0 is not an address a browser can open
        urls = [f"{scheme}://{ip}:{server.port}/" for ip in lan_addresses(loopback=False)]
        print(f"listening on every network, port {server.port}:", file=out)
        print(f"  {base}/  (this machine)", file=out)
        for url in urls:
            print(f"  {url}  (phones and computers on the same network)", file=out)
        if urls:
            print_qr(urls[0], out)
        if scheme == "https":
            print(f"  (http:// on port {server.port} too: pages opened that way explain the certificate "
                  "warning and link here)", file=out)
    else:
        print(f"listening on {base}/", file=out)
    print(f"API {base}/api/v1 (docs {base}/openapi.json), metrics {base}/metrics", file=out)
    print("press Ctrl-C to stop", file=out, flush=True)


def check_http_port(ctx: ServeContext) -> None:
    """Before anything loads: the HTTP port is free, or one line saying who holds it and how to choose."""
    cfg = ctx.config.server
    if cfg.port and port_taken(cfg.host, cfg.port):
        raise ConfigError(f"port {cfg.port} is taken by {port_owner(cfg.port)}: stop it, or choose another "
                          f"port with --port (e.g. --port {cfg.port + 1}; 0 = any free port)")


def start_broker(ctx: ServeContext) -> None:
    """The MQTT broker boards connect to, unless push is off (``--mqtt off``) or goes to ``mqtt.url``. On a
    port held by a broker whose logins visioncast does not manage (or any other program) it starts on the
    next free port, unless ``--broker-port`` named that port (then it stops, saying how to choose)."""
    cfg = ctx.config
    if not cfg.broker.enabled or cfg.mqtt.url:
        return
    move = cfg.layers.origin("broker.port") != "flags"
    ctx.broker = open_broker(cfg.broker, data_dir=Path(cfg.data_dir), move=move, port_option="--broker-port",
                             **broker_options(ctx))
    if not ctx.broker.external:
        ctx.on_stop("the MQTT broker", ctx.broker.close)
        broker_metrics(ctx.app, ctx.broker)
    push.push_of(ctx.app).reach = print_broker(ctx.broker, ctx.out, cfg.mqtt)


def start_push(ctx: ServeContext) -> None:
    """The MQTT push of the settings in use (after the broker it may go to); prints where it goes and why."""
    cfg, layers = ctx.config.mqtt, ctx.config.layers
    sink = push.start(ctx.app, ctx.broker)
    if sink is None and not cfg.enabled:
        where = layers.describe(layers.origin("mqtt.enabled"), "mqtt.enabled")
        print(f"MQTT push: off (set {where})", file=ctx.out, flush=True)
        return
    if sink is None:
        print("MQTT push: no broker (the embedded one is off; set one on the /mqtt page or with --mqtt URL)",
              file=ctx.out, flush=True)
        return
    ctx.on_stop("MQTT push", lambda: _push_summary(push.stop(ctx.app)))
    if is_local(cfg, ctx.broker):
        running = ctx.broker is not None and ctx.broker.external
        why = "visioncast's broker, already running" if running else "this server's broker"
    else:
        key = "mqtt.url" if cfg.url else "mqtt.host"
        why = f"{key} set {layers.describe(layers.origin(key), key)}"
    state = "connected" if sink.wait_connected(CONNECT_WAIT_S) else f"not connected yet: {sink.error or '…'}"
    print(f"MQTT push to {sink.cfg.host}:{sink.cfg.port} ({why}; {state})", file=ctx.out, flush=True)


def _push_summary(status: dict[str, Any] | None) -> str | None:
    return None if status is None else f"{status['sent']} messages sent, {status['dropped']} dropped"


def print_signin(ctx: ServeContext) -> None:
    """On a server the LAN can reach: the teacher's sign-in link and its QR code (made on first need)."""
    auth = auth_of(ctx.app)
    if auth.loopback_only:
        return
    assert ctx.server is not None  # set by run() before AFTER_LISTEN
    scheme = ctx.server.url.split(":", 1)[0]
    host = lan_addresses()[0] if ctx.config.server.host in ANY_HOSTS else ctx.server.host
    link = f"{scheme}://{host}:{ctx.server.port}/signin?token={auth.token()}"
    print("teacher sign-in (push settings, streams; keep it off the projector: it is the teacher's key):",
          file=ctx.out)
    print(f"  {link}", file=ctx.out)
    print_qr(link, ctx.out)
    print(f"  token kept in {auth.token_path}" if not ctx.config.server.token else "  token from the config",
          file=ctx.out, flush=True)


def print_problems(ctx: ServeContext) -> None:
    """The quick part of `visioncast doctor` (phone cameras, firewall, data dir): only what fails."""
    from visioncast.cli.checkup import print_line  # noqa: PLC0415 - the checks load only once serving
    from visioncast.cli.doctor import quick_checks  # noqa: PLC0415

    for line in quick_checks(ctx.config, listening=True):
        print_line(line, ctx.out)


STARTUP: list[Step] = [check_http_port, start_ray, place_streams, load_models, start_broker, start_push]
AFTER_LISTEN: list[Step] = [print_urls, print_signin, print_problems]


def make_server(ctx: ServeContext) -> HttpServer:
    cfg = ctx.config.server
    context = tls_context(ctx) if cfg.https() else None
    return HttpServer(ctx.app, cfg.host, cfg.port, workers=cfg.workers, ssl_context=context, limits=cfg)


def tls_context(ctx: ServeContext) -> ssl.SSLContext:
    """The TLS context with the data dir's self-signed certificate (made on first use); prints it."""
    host = ctx.config.server.host
    hosts = lan_addresses(loopback=False) if host in ANY_HOSTS else [host]
    cert = ensure_certificate(Path(ctx.config.data_dir) / "tls", hosts)
    print(f"TLS: {'made a new' if cert.created else 'using the'} self-signed certificate {cert.cert_path}",
          file=ctx.out)
    print(f"  SHA-256 fingerprint {cert.fingerprint}", file=ctx.out)
    print("  browsers warn once: compare this fingerprint with the certificate's, then continue",
          file=ctx.out, flush=True)
    return ssl_context(cert)


def show_requests(out: TextIO) -> None:
    """Print the access log (one line per request) to ``out``."""
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    access_log.handlers[:] = [handler]
    access_log.setLevel(logging.INFO)
    access_log.propagate = False


def stop_on_signal(ctx: ServeContext) -> Callable[[int, Any], None]:
    """The handler of Ctrl-C and SIGTERM. While the port is open it asks the HTTP loop to end, and
    ``serve_forever`` returns. Before that (models loading), and on a second signal, it raises
    KeyboardInterrupt to stop whatever runs. Not raising while serving also keeps the exit status 0: CPython
    exits by SIGINT at the end when a KeyboardInterrupt passed through an ``exec`` of a string (a dataclass or
    namedtuple being made), even one that was caught."""

    def handle(signum: int, _frame: Any) -> None:
        if ctx.server is None or ctx.stopping:
            raise KeyboardInterrupt(signal.Signals(signum).name)
        ctx.stopping = True
        ctx.server.interrupt()

    return handle


def run(args: argparse.Namespace) -> int:
    if args.model:
        raise InputError(f"serve takes --detect-model and --classify-model, not --model {args.model!r}")
    cfg = load_config(args, config_overrides(args))
    check_port(cfg.server.port, "--port (server.port)", zero="any free port")
    ctx = ServeContext(args, cfg, create_app(cfg))
    show_requests(ctx.out)
    services = ctx.app.extensions[SERVICES]
    handler = stop_on_signal(ctx)  # from the start: a SIGTERM while loading stops what has started, in order
    # Ctrl-C too, unless the server was started with it ignored (`serve &` in a script, nohup), as Python does
    names = [*(["SIGINT"] if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN else []), *STOP_SIGNALS]
    previous = {name: signal.signal(getattr(signal, name), handler) for name in names}
    try:
        for step in STARTUP:
            step(ctx)
        ctx.on_stop("pipelines and video jobs", services.stop_producers)
        ctx.server = make_server(ctx).start()
        ctx.on_stop("the HTTP server", ctx.server.stop)
        for step in AFTER_LISTEN:
            step(ctx)
        ctx.server.serve_forever()  # returns when a signal asks it to
        print("stopping…", file=ctx.out, flush=True)
    except KeyboardInterrupt:
        print("stopping…", file=ctx.out, flush=True)
    finally:
        t0 = time.perf_counter()
        ctx.stop_all()
        services.close()  # whatever a step left (nothing, normally)
        print(f"stopped in {time.perf_counter() - t0:.1f} s", file=ctx.out, flush=True)
        for name, before in previous.items():
            signal.signal(getattr(signal, name), before)
    return 0
