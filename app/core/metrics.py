"""Prometheus metrics.

With several uvicorn workers, `serve` points PROMETHEUS_MULTIPROC_DIR at a fresh directory
before the workers start, so every worker writes its samples there and `/metrics` (answered by
any worker) aggregates all of them.
"""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import REGISTRY

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by route template, method and status",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route template and method",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBHOOK_EVENTS = Counter(
    "webhook_requests_total",
    "Webhook requests by kind and outcome (stored, duplicate, unparsed, too_large, rejected, "
    "throttled, spooled, unavailable)",
    ["kind", "outcome"],
)
WEBHOOK_ITEMS_REJECTED = Counter(
    "webhook_items_rejected_total",
    "Items of JSON array webhooks that could not be parsed (kept as unparsed; the rest stored)",
    ["kind"],
)
WEBHOOKS_IN_PROGRESS = Gauge(
    "webhook_requests_in_progress",
    "Webhook requests received and not yet answered (being stored or waiting for their commit)",
    multiprocess_mode="livesum",
)
SPOOL_ENTRIES = Gauge(
    "spool_entries",
    "Webhook requests in the outage spool, waiting for the database",
    multiprocess_mode="livesum",
)
SPOOL_BYTES = Gauge(
    "spool_bytes", "Bytes of webhook bodies in the outage spool", multiprocess_mode="livesum"
)
SPOOL_OLDEST_AGE = Gauge(
    "spool_oldest_age_seconds",
    "Age of the oldest webhook request in the outage spool (0 when empty)",
    multiprocess_mode="livemax",
)
SPOOL_QUARANTINED = Gauge(
    "spool_quarantined",
    "Webhook requests kept in quarantine: the database answers but will not store them",
    multiprocess_mode="livemax",
)
SPOOL_REPLAYED = Counter(
    "spool_replayed_total", "Webhook requests replayed from the outage spool into the database"
)
MOBIVATE_CALLS = Counter(
    "mobivate_calls_total",
    "HTTP calls to the Mobivate API (each retry counts) by operation and outcome (ok, refused, "
    "unauthorized, opted_out, unavailable, timeout, unreachable, bad_response)",
    ["operation", "outcome"],
)
MOBIVATE_LATENCY = Histogram(
    "mobivate_call_duration_seconds",
    "Mobivate API call latency by operation",
    ["operation"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
STATUS_TRANSITIONS = Counter(
    "message_status_transitions_total",
    "Outbound message status changes, counted when the change commits",
    ["from_status", "to_status"],
)

RECEIPT_SILENCE_ALARM = Gauge(
    "receipt_silence_alarm",
    "1 while delivery receipts are silent although messages wait for them "
    "(RECEIPT_SILENCE_MINUTES), else 0",
    multiprocess_mode="livemax",
)


def observe_mobivate_call(operation: str, outcome: str, seconds: float) -> None:
    MOBIVATE_CALLS.labels(operation, outcome).inc()
    MOBIVATE_LATENCY.labels(operation).observe(seconds)


def render() -> tuple[bytes, str]:
    """The exposition text for a scrape, aggregated over workers when there are several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


CPU_PARTS = Counter(
    "process_cpu_part_seconds",
    "CPU seconds of the serving processes by part (http: uvicorn's protocol and writing answers; "
    "app: the application's tasks), counted only with CPU_ACCOUNTING",
    ["part"],
)

SUBSCRIPTION_DELIVERIES = Counter(
    "subscription_delivery_attempts_total",
    "Attempts to send an event to a subscriber, by outcome (delivered, retry, failed).",
    ["outcome"],
)
