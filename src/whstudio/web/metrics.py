"""Prometheus metrics of one app instance, on a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "whstudio_http_requests_total",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "whstudio_http_request_duration_seconds",
            "HTTP request latency by route",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.in_flight = Gauge(
            "whstudio_http_requests_in_flight", "HTTP requests being served", registry=self.registry
        )
        self.submissions = Counter(
            "whstudio_submissions_total",
            "Responses accepted, by question type",
            ["question_type"],
            registry=self.registry,
        )
        self.consensus_events = Counter(
            "whstudio_consensus_events_total",
            "Consensus changes, by kind (updated, reached, lost)",
            ["kind"],
            registry=self.registry,
        )
        self.submit_groups = Histogram(
            "whstudio_submit_group_size",
            "Answers stored together in one transaction (group commit)",
            registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64),
        )
        self.login_failures = Counter(
            "whstudio_login_failures_total", "Failed sign-ins", registry=self.registry
        )
        self._pool = None
        self.registry.register(_PoolCollector(self))

    def watch_pool(self, pool) -> None:
        self._pool = pool


class _PoolCollector:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self):
        pool = self.metrics._pool
        stats = pool.get_stats() if pool is not None else {}
        for key, help_text in (
            ("pool_size", "Connections the pool holds"),
            ("pool_available", "Idle connections in the pool"),
            ("requests_waiting", "Callers waiting for a connection"),
        ):
            family = GaugeMetricFamily(f"whstudio_db_{key}", help_text)
            family.add_metric([], stats.get(key, 0))
            yield family
        family = GaugeMetricFamily("whstudio_db_pool_max", "Most connections the pool may open")
        family.add_metric([], pool.max_size if pool is not None else 0)
        yield family
