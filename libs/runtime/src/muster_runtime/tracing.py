"""Distributed tracing with OpenTelemetry: one trace follows a request through every hop.

HTTP request (FastAPI instrumentation) → `command <name>` → `append <stream type>` (the
W3C trace context is stored with the commit) → `publish <topic>` (the relay, later and
from another task, continues the stored context and puts `traceparent` in the Kafka
headers) → `consume <topic>` in each consuming service → `project <projection>`.

Off by default: then no provider is installed, the API's no-op tracer costs next to
nothing and nothing is stored or sent. `MUSTER_TRACE_EXPORTER` picks `console`, `otlp`
(OTLP over HTTP to `MUSTER_TRACE_OTLP_ENDPOINT`) or `file` (JSON lines, one span a line,
read back by `muster trace`).

The Kafka hops are traced here rather than by OpenTelemetry's aiokafka instrumentation: its
producer span starts from the context current at `send()`, where the relay needs the one
stored with the commit, and its consumer spans end inside `getmany`, before any projection
runs, so the `project` spans could not sit under them.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ParamSpec, TypeVar

import orjson
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.trace.status import StatusCode

if TYPE_CHECKING:
    from fastapi import FastAPI

    from muster_runtime.settings import ServiceSettings

P = ParamSpec("P")
R = TypeVar("R")

TRACER_NAME = "muster"
# Endpoints polled by probes and scrapers: never traced.
UNTRACED_URLS = "healthz,readyz,metrics"

_provider: TracerProvider | None = None
_lock = threading.Lock()


# A proxy until a provider is installed, then the provider's tracer. Made once: the SDK's
# `get_tracer` builds a tracer and resets the warnings filters on every call.
_tracer = trace.get_tracer(TRACER_NAME)


def tracer() -> Tracer:
    """Muster's tracer (the no-op one while tracing is off)."""
    return _tracer


def enabled() -> bool:
    """Whether this process records spans (spans cost nothing to skip when it does not)."""
    return _provider is not None


def configure_tracing(settings: ServiceSettings) -> None:
    """Install the process's tracer provider and exporter, once, as the settings say."""
    global _provider
    if settings.trace_exporter == "off":
        return
    with _lock:
        if _provider is not None:
            return  # one provider per process (tests build several apps in one process)
        provider = TracerProvider(
            resource=Resource.create(
                {"service.name": settings.service_name, "service.namespace": "muster"}
            ),
            sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)),
        )
        provider.add_span_processor(
            BatchSpanProcessor(_exporter(settings), schedule_delay_millis=500)
        )
        trace.set_tracer_provider(provider)
        _provider = provider


def shutdown_tracing() -> None:
    """Flush the spans still queued (at service stop)."""
    if _provider is not None:
        _provider.force_flush(5000)


def _exporter(settings: ServiceSettings) -> SpanExporter:
    if settings.trace_exporter == "console":
        return ConsoleSpanExporter(service_name=settings.service_name)
    if settings.trace_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=settings.trace_otlp_endpoint)
    return JsonLinesSpanExporter(
        Path(settings.trace_file or f"traces/{settings.service_name}.jsonl")
    )


def instrument_app(app: FastAPI) -> None:
    """Trace every request but the probes (a server span per request, named by route)."""
    if not enabled():
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls=UNTRACED_URLS,
        exclude_spans=["receive", "send"],
        server_request_hook=_forget_the_caller,
    )


# Where a volunteer's phone connected from is theirs, not the operator's: not traced.
CALLER_ADDRESS_ATTRIBUTES = ("net.peer.ip", "net.peer.port", "client.address", "client.port")


def _forget_the_caller(span: Span, _: dict[str, Any]) -> None:
    if span.is_recording():
        for key in CALLER_ADDRESS_ATTRIBUTES:
            span.set_attribute(key, "")


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span, as hex, for the logs."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def traced_command(
    name: str,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Decorate an application-layer command: `command <name>` around its run."""

    def decorate(command: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(command)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with tracer().start_as_current_span(
                f"command {name}", attributes={"muster.command": name}
            ):
                return await command(*args, **kwargs)

        return run

    return decorate


# --------------------------------------------------------------- context across hops


def stored_context() -> dict[str, str]:
    """The current trace context as W3C headers, to keep with an appended commit."""
    carrier: dict[str, str] = {}
    if enabled():
        propagate.inject(carrier)
    return carrier


def kafka_headers(span: Span) -> dict[str, str]:
    """W3C trace context headers that make `span` the parent of the consumer's spans."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return carrier


def context_from(headers: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(headers)


def start_publish_span(
    topic: str, stored: Mapping[str, str] | None, attributes: Mapping[str, Any]
) -> Span | None:
    """A producer span continuing the trace stored with a commit (None if tracing is off)."""
    if not enabled():
        return None
    return tracer().start_span(
        f"publish {topic}",
        context=context_from(stored or {}),
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka", "messaging.destination.name": topic, **attributes},
    )


def end_spans(spans: Sequence[Span], error: BaseException | None = None) -> None:
    for span in spans:
        if error is not None:
            span.record_exception(error)
            span.set_status(StatusCode.ERROR, type(error).__name__)
        span.end()


def record_headers(record: Any) -> dict[str, str]:
    """An aiokafka record's headers as text (trace context and event metadata)."""
    return {
        key: value.decode("latin-1") if isinstance(value, bytes) else str(value)
        for key, value in (getattr(record, "headers", None) or ())
    }


class BatchSpans:
    """The spans of one consumed batch: a `consume` span per message, continuing the
    producer's trace, and `project` spans under each while a projection applies the batch.

    Every event's trace thus shows the consumer and each projection it went through,
    even when many events are applied together (their spans share the batch's timing).
    """

    def __init__(self, topic_of: Sequence[tuple[str, Mapping[str, str], Mapping[str, Any]]]):
        self._consume: list[Span] = []
        if not enabled():
            return
        for topic, headers, attributes in topic_of:
            self._consume.append(
                tracer().start_span(
                    f"consume {topic}",
                    context=context_from(headers),
                    kind=SpanKind.CONSUMER,
                    attributes={
                        "messaging.system": "kafka",
                        "messaging.destination.name": topic,
                        "messaging.batch.message_count": len(topic_of),
                        **attributes,
                    },
                )
            )

    @contextlib.contextmanager
    def projection(self, name: str) -> Iterator[None]:
        """`project <name>` under every message's span; current when the batch is one event."""
        spans = [
            tracer().start_span(f"project {name}", context=trace.set_span_in_context(parent))
            for parent in self._consume
        ]
        token = (
            otel_context.attach(trace.set_span_in_context(spans[0])) if len(spans) == 1 else None
        )
        try:
            yield
        except BaseException as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(StatusCode.ERROR, type(exc).__name__)
            raise
        finally:
            if token is not None:
                otel_context.detach(token)
            for span in spans:
                span.end()

    def end(self, error: BaseException | None = None) -> None:
        end_spans(self._consume, error)


# --------------------------------------------------------------- the file exporter


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """One finished span as a flat JSON-able record (what `muster trace` reads)."""
    context = span.get_span_context()
    assert context is not None
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
        "name": span.name,
        "kind": span.kind.name.lower(),
        "service": span.resource.attributes.get("service.name", ""),
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": span.status.status_code.name.lower(),
        "attributes": dict(span.attributes or {}),
    }


class JsonLinesSpanExporter(SpanExporter):
    """Appends finished spans to a file, one JSON object a line (for the local stack)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        # One write per batch: lines of processes sharing the file do not interleave.
        self._file.write(b"".join(orjson.dumps(span_record(s)) + b"\n" for s in spans))
        self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
