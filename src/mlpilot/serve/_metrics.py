"""The server's Prometheus metrics, per model and version."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Latency buckets from a fraction of a millisecond (an in-memory model) to seconds.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """Counters, histograms and gauges in a registry of the server's own, so that two
    servers in one process (tests) never share counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("model", "version")
        self._requests = Counter(
            "mlpilot_serve_requests",
            "Prediction requests answered, by HTTP status and role (primary, canary).",
            (*labels, "role", "status"),
            registry=self.registry,
        )
        self._latency = Histogram(
            "mlpilot_serve_request_seconds",
            "Time from a request's arrival to its answer.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._batch = Histogram(
            "mlpilot_serve_batch_rows",
            "Rows per predict call sent to a worker.",
            labels,
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self._predict = Histogram(
            "mlpilot_serve_predict_seconds",
            "Time a worker spent predicting one batch.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._trip = Histogram(
            "mlpilot_serve_batch_seconds",
            "Time from sending a batch to a worker to having its answer: the predict "
            "time plus the trip there and back.",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._workers = Gauge(
            "mlpilot_serve_workers",
            "Worker processes running a model version.",
            labels,
            registry=self.registry,
        )
        self._lost = Counter(
            "mlpilot_serve_workers_lost",
            "Worker processes that died and were replaced.",
            labels,
            registry=self.registry,
        )
        self._challenger_refused = Counter(
            "mlpilot_serve_challenger_refused",
            "Requests a challenger's signature refused, answered by the primary alone.",
            labels,
            registry=self.registry,
        )
        self._rejected = Counter(
            "mlpilot_serve_rejected",
            "Requests refused before reaching a model, by HTTP status.",
            ("status",),
            registry=self.registry,
        )

    def request(self, model: str, version: int, role: str, status: int, seconds: float) -> None:
        self._requests.labels(model, str(version), role, str(status)).inc()
        self._latency.labels(model, str(version)).observe(seconds)

    def batch(self, model: str, version: int, rows: int) -> None:
        self._batch.labels(model, str(version)).observe(rows)

    def predicted(self, model: str, version: int, predict_s: float, batch_s: float) -> None:
        self._predict.labels(model, str(version)).observe(predict_s)
        self._trip.labels(model, str(version)).observe(batch_s)

    def workers(self, model: str, version: int, count: int) -> None:
        self._workers.labels(model, str(version)).set(count)

    def worker_lost(self, model: str, version: int) -> None:
        self._lost.labels(model, str(version)).inc()

    def challenger_refused(self, model: str, version: int) -> None:
        self._challenger_refused.labels(model, str(version)).inc()

    def rejected(self, status: int) -> None:
        self._rejected.labels(str(status)).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
