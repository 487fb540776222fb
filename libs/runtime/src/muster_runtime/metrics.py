"""Prometheus metrics every service exposes on `/metrics`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "muster_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "muster_http_request_seconds", "HTTP request latency", ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)  # fmt: skip
EVENTS_APPENDED = Counter("muster_events_appended_total", "Events appended", ["stream_type"])
APPEND_CONFLICTS = Counter("muster_append_conflicts_total", "Appends refused as concurrent")
RELAY_BACKLOG = Gauge("muster_relay_backlog", "Stored commits not yet published to Kafka")
RELAY_PUBLISHED = Counter("muster_relay_published_total", "Events published by the relay")
RELAY_PUBLISH_SECONDS = Histogram(
    "muster_relay_publish_seconds", "Time to publish one relay batch and mark it",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)  # fmt: skip
EVENTS_CONSUMED = Counter(
    "muster_events_consumed_total", "Events applied by projections", ["topic"]
)
PROJECTION_SECONDS = Histogram(
    "muster_projection_batch_seconds", "Time to apply one consumed batch",
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)  # fmt: skip
DEAD_LETTERS = Counter("muster_dead_letters_total", "Messages sent to the dead-letter topic")
PROJECTION_FAILURES = Counter(
    "muster_projection_failures_total", "Batches that failed and will be redelivered"
)
RELAY_DELAY_SECONDS = Histogram(
    "muster_relay_delay_seconds", "From an append to Kafka's acknowledgement of its events",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30, 120),
)  # fmt: skip
RELAY_OLDEST_SECONDS = Gauge(
    "muster_relay_oldest_unpublished_seconds", "Age of the oldest commit not yet on Kafka (0: none)"
)
PROJECTION_APPLY_SECONDS = Histogram(
    "muster_projection_apply_seconds", "Time one projection takes to apply a consumed batch",
    ["projection"], buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)  # fmt: skip
CONSUMER_LAG = Gauge(
    "muster_consumer_lag", "Events on a partition not yet committed by this service's group",
    ["topic", "partition"],
)  # fmt: skip
AS_OF_JOURNAL = Gauge(
    "muster_as_of_journal_documents", "Reporting batches' as-of changes not yet in their buckets"
)
AS_OF_WRITE_SECONDS = Histogram(
    "muster_as_of_write_seconds", "Time to write journalled batches into the as-of buckets",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)  # fmt: skip
