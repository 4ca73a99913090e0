"""Request metrics and the access log: Prometheus counters per app, one log line per request. No I/O.

Each app owns a ``CollectorRegistry`` (never the global one, so several apps in one process, as in the tests,
do not share or clash). ``/metrics`` answers the Prometheus text format: requests by route/method/status,
request latency and model stage histograms, error answers by kind. Other features expose their own numbers
through :meth:`Metrics.add_callback`, read at scrape time (so a sink only keeps its plain counters)::

    metrics_of(app).add_callback("visioncast_mqtt_dropped", "MQTT messages dropped",
                                 lambda: sink.status()["dropped"], kind="counter")

or create ``prometheus_client`` metrics with ``registry=metrics_of(app).registry``. Views put a short result
summary ("bus 0.91, person×3") in ``flask.g.visioncast_summary``; it ends the access log line.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from visioncast.core.types import Result
from visioncast.server.auth.access import access
from visioncast.server.openapi import document, response

EXTENSION = "visioncast.metrics"
access_log = logging.getLogger("visioncast.server.auth.access")
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SECRET_QUERY = re.compile(r"([?&]token=)[^&]*")
UNMATCHED = "<unmatched>"  # 404s of unknown paths share one label instead of one per path

Sample = float | Mapping[tuple[str, ...], float]


class _CallbackCollector(Collector):
    """One metric whose value(s) come from a function at scrape time."""

    def __init__(self, name: str, documentation: str, fn: Callable[[], Sample], kind: str,
                 labels: Sequence[str]) -> None:
        if kind not in ("counter", "gauge"):
            raise ValueError(f"metric kind must be 'counter' or 'gauge', got {kind!r}")
        self.name, self.documentation, self.fn, self.kind, self.labels = name, documentation, fn, kind, labels

    def collect(self) -> Iterator[Metric]:
        family_type = CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily
        family = family_type(self.name, self.documentation, labels=list(self.labels))
        value = self.fn()
        items = value.items() if isinstance(value, Mapping) else [((), value)]
        for label_values, number in items:
            family.add_metric(list(label_values), float(number))
        yield family


class Metrics:
    """The app's Prometheus registry and the metrics every request and result updates."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("visioncast_http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("visioncast_http_request_duration_seconds", "HTTP request latency by route",
                                 ["route"], buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.model = Histogram("visioncast_inference_seconds", "model time per result by task, model and "
                               "stage (preprocess, inference, postprocess)", ["task", "model", "stage"],
                               buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.errors = Counter("visioncast_errors", "error answers by kind (the 'error' code of the JSON)",
                              ["kind"], registry=self.registry)

    def observe_result(self, result: Result) -> None:
        for stage, ms in result.timings_ms.items():
            self.model.labels(result.task, result.model, stage).observe(ms / 1000)

    def observe_request(self, route: str, method: str, status: int, latency_s: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(latency_s)

    def add_callback(self, name: str, documentation: str, fn: Callable[[], Sample], *,
                     kind: str = "gauge", labels: Sequence[str] = ()) -> None:
        """Expose ``fn()`` as metric ``name``: a number, or {label values tuple: number} with ``labels``."""
        self.registry.register(_CallbackCollector(name, documentation, fn, kind, labels))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def metrics_of(app: Flask) -> Metrics:
    """The Metrics of ``app``, created on first use (so features may register in any order)."""
    metrics = app.extensions.get(EXTENSION)
    if metrics is None:
        metrics = app.extensions[EXTENSION] = Metrics()
    return metrics  # type: ignore[no-any-return,unused-ignore]


def _start() -> None:
    g.visioncast_t0 = time.perf_counter()


def _finish(app: Flask, resp: Response) -> Response:
    t0 = g.get("visioncast_t0")  # None when an earlier before_request answered (a refused sign-in)
    latency_s = time.perf_counter() - t0 if t0 is not None else 0.0
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    metrics = metrics_of(app)
    metrics.observe_request(route, request.method, resp.status_code, latency_s)
    kind = None
    if resp.status_code >= 400:
        body = resp.get_json(silent=True) if resp.is_json else None
        kind = body.get("error") if isinstance(body, dict) else g.get("visioncast_error")
        metrics.errors.labels(str(kind or resp.status_code)).inc()
    if not access_log.isEnabledFor(logging.INFO):
        return resp
    summary = g.get("visioncast_summary", "") or (kind or "")  # a 4xx/5xx line names its error code
    path = _SECRET_QUERY.sub(r"\1…", request.full_path.rstrip("?"))  # the sign-in link's token
    took = f"{latency_s * 1000:.1f} ms" if t0 is not None else "- ms"
    access_log.info("%s %s %s %d %s%s", request.remote_addr or "-", request.method, path,
                    resp.status_code, took, f"  {summary}" if summary else "")
    return resp


@document("Prometheus metrics", tags=["meta"],
          responses={200: response("Prometheus text exposition format", {"type": "string"},
                                   media_type="text/plain")})
@access("local")
def metrics_view() -> Any:
    """Prometheus metrics."""
    return Response(metrics_of(current_app).render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def register(app: Flask) -> None:
    """Time every request, count it, log it; serve /metrics."""
    metrics_of(app)
    app.before_request(_start)
    app.after_request(lambda resp: _finish(app, resp))
    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
