"""Prometheus metrics, on a registry of our own so tests can build many apps."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry
    http_requests: Counter
    http_latency: Histogram
    database_up: Gauge


def make_metrics() -> Metrics:
    registry = CollectorRegistry()
    return Metrics(
        registry=registry,
        http_requests=Counter(
            "threadline_http_requests",
            "HTTP requests served, by route and status",
            ["route", "status"],
            registry=registry,
        ),
        http_latency=Histogram(
            "threadline_http_request_seconds",
            "Time to answer an HTTP request, by route",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        ),
        database_up=Gauge(
            "threadline_database_up",
            "1 when the last health check reached the database",
            registry=registry,
        ),
    )
