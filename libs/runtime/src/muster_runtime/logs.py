"""Structured logging: one JSON object per line on stderr, with the service name, the
trace and span ids of the current span and the request's correlation id.

Never log personal data: names, phones and addresses stay sealed in the volunteer
service (an end-to-end test greps a run's logs for them)."""

from __future__ import annotations

import logging
import sys
import warnings
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import orjson

from muster_runtime.tracing import current_ids

# The id of the request being served (the `X-Request-ID` header), carried into the
# events it causes as their correlation id.
CORRELATION_ID: ContextVar[UUID | None] = ContextVar("correlation_id", default=None)


def correlation_id() -> UUID:
    """The current request's correlation id, or a fresh one outside a request."""
    return CORRELATION_ID.get() or uuid4()


_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ids = current_ids()
        if ids:
            entry["trace_id"], entry["span_id"] = ids
        correlation = CORRELATION_ID.get()
        if correlation:
            entry["correlation_id"] = str(correlation)
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(service: str, level: str = "INFO", *, json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Library warnings as JSON lines too, not bare stderr text, and each one only once.
    logging.captureWarnings(True)
    warnings.simplefilter("once")
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "pymongo", "faststream"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
