"""Prometheus metrics in the text exposition format (version 0.0.4), stdlib only.

Kept hand-written rather than ``prometheus_client``: measured on the same series
(benchmarks/README.md, Serve), recording one request costs 1.2-1.4 µs here vs 6.0-6.3 µs,
and rendering ``/metrics`` 65 µs vs 330 µs.

Series, labelled by model and endpoint (a fixed set of names, never a raw path, so a
client cannot blow up the number of series):

* ``edgeship_requests_total{model,endpoint,code}``
* ``edgeship_request_errors_total{model,endpoint}`` (status >= 400)
* ``edgeship_request_duration_seconds{model,endpoint}`` histogram
* ``edgeship_inference_duration_seconds{model}`` histogram (interpreter time only)
* ``edgeship_models_loaded`` gauge
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: tuple[tuple[str, str], ...], extra: str = "") -> str:
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    if extra:
        body = f"{body},{extra}" if body else extra
    return "{" + body + "}" if body else ""


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds

    def lines(self, name: str, pairs: tuple[tuple[str, str], ...]) -> list[str]:
        out, running = [], 0
        for bound, count in zip(BUCKETS, self.counts[:-1], strict=True):
            running += count
            le = 'le="' + repr(bound) + '"'
            out.append(f"{name}_bucket{_labels(pairs, le)} {running}")
        running += self.counts[-1]
        inf = 'le="+Inf"'
        out.append(f"{name}_bucket{_labels(pairs, inf)} {running}")
        out.append(f"{name}_sum{_labels(pairs)} {self.total:.9g}")
        out.append(f"{name}_count{_labels(pairs)} {running}")
        return out


class Metrics:
    """Thread-safe request counters and latency histograms."""

    def __init__(self, models_loaded: int = 0) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._errors: dict[tuple[str, str], int] = {}
        self._latency: dict[tuple[str, str], _Histogram] = {}
        self._inference: dict[str, _Histogram] = {}
        self.models_loaded = models_loaded

    def observe_request(self, model: str, endpoint: str, status: int, seconds: float) -> None:
        """Count one finished request and its wall time."""
        with self._lock:
            key = (model, endpoint, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            if status >= 400:
                self._errors[(model, endpoint)] = self._errors.get((model, endpoint), 0) + 1
            hist = self._latency.get((model, endpoint))
            if hist is None:
                hist = self._latency[(model, endpoint)] = _Histogram()
            hist.observe(seconds)

    def observe_inference(self, model: str, seconds: float) -> None:
        """Record the interpreter time of one call."""
        with self._lock:
            hist = self._inference.get(model)
            if hist is None:
                hist = self._inference[model] = _Histogram()
            hist.observe(seconds)

    def requests(self, model: str, endpoint: str, status: int) -> int:
        """Return the count of one ``(model, endpoint, status)`` series."""
        with self._lock:
            return self._requests.get((model, endpoint, str(status)), 0)

    def render(self) -> str:
        """Return every series in the Prometheus text format."""
        requests = "edgeship_requests_total"
        errors = "edgeship_request_errors_total"
        latency = "edgeship_request_duration_seconds"
        inference = "edgeship_inference_duration_seconds"
        loaded = "edgeship_models_loaded"
        with self._lock:
            lines = _family(requests, "HTTP requests by model, endpoint and status.", "counter")
            for (model, endpoint, code), n in sorted(self._requests.items()):
                triple = (("model", model), ("endpoint", endpoint), ("code", code))
                lines.append(f"{requests}{_labels(triple)} {n}")
            lines += _family(errors, "Requests answered with status >= 400.", "counter")
            for (model, endpoint), n in sorted(self._errors.items()):
                lines.append(f"{errors}{_labels((('model', model), ('endpoint', endpoint)))} {n}")
            lines += _family(latency, "Request wall time in the server.", "histogram")
            for (model, endpoint), hist in sorted(self._latency.items()):
                lines += hist.lines(latency, (("model", model), ("endpoint", endpoint)))
            lines += _family(inference, "Model execution time per call.", "histogram")
            for model, hist in sorted(self._inference.items()):
                lines += hist.lines(inference, (("model", model),))
            lines += _family(loaded, "Models this server holds.", "gauge")
            lines.append(f"{loaded} {self.models_loaded}")
        return "\n".join(lines) + "\n"


def _family(name: str, description: str, kind: str) -> list[str]:
    """The ``# HELP`` and ``# TYPE`` lines that open a metric family."""
    return [f"# HELP {name} {description}", f"# TYPE {name} {kind}"]
