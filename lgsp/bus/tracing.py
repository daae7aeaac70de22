"""A document's journey as an OpenTelemetry trace (``--otlp-endpoint``).

Every component gets one ``Tracing`` when it is built and calls it at each hop; the choice between
tracing and not is made once, there, never per record:

* ``NO_TRACING`` (the default): every call returns the same inert span; no span object is made,
  no ``traceparent`` header is written, and ``opentelemetry`` is not even imported.
* ``OtelTracing``: real spans of the OpenTelemetry SDK, exported in batches by this process (each
  worker process of a run exports its own) and flushed when the run stops.

Spans follow OpenTelemetry's messaging semantic conventions (semconv 1.27+): a record written is a
PRODUCER span ``send <topic>`` (``messaging.operation.type=send``), a record handled a CONSUMER span
``process <topic>`` (``messaging.operation.type=process``), with ``messaging.system=kafka``,
``messaging.destination.name``, ``messaging.kafka.message.key`` and, when consuming,
``messaging.destination.partition.id`` and ``messaging.kafka.offset``. Each span's context travels
as W3C ``traceparent``/``tracestate`` headers (``lgsp.bus.headers``) on the records it caused, so
one document's trace is::

    send <inbound>              the agency sender submits the document (root)
    └ process <inbound>         its home platform routes it        (one per platform hop)
      └ process <inbound>       VDXP, then the recipient's platform ...
        └ process <deliver>     the recipient agent takes it in (delivery)
          ├ send <inbound>      status 01, 03, 04, 05, 06 (or 02) — one span each
          │ └ process <inbound> the status's hops back ... └ process <deliver> at the sender

Attributes of the simulation itself: ``lgsp.document_id``, ``lgsp.actor`` (the agency or platform
code doing the work) and ``lgsp.status`` (status spans).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lgsp.bus.headers import TraceContext
from lgsp.domain.status import StatusEvent
from lgsp.errors import ConfigError

if TYPE_CHECKING:
    from aiokafka import ConsumerRecord
    from opentelemetry.sdk.trace.export import SpanExporter

OTLP_TRACES_PATH = "/v1/traces"


class Span:
    """A span in progress: the context its records carry, and ``end()``. This base is the inert
    span of ``NO_TRACING`` (no context, nothing to end)."""

    __slots__ = ("context",)

    def __init__(self, context: TraceContext | None = None) -> None:
        self.context = context
        """The W3C context the records this span causes carry (None: none)."""

    def end(self) -> None:
        return None


NO_SPAN = Span()


class Tracing:
    """No tracing: every call returns ``NO_SPAN``. ``OtelTracing`` makes real spans."""

    enabled = False

    def send(self, topic: str, key: bytes | None, *, parent: TraceContext | None,
             document_id: str, actor: str, status: str | None = None) -> Span:
        """A PRODUCER span for a record about to be written (end it once it is handed over)."""
        return NO_SPAN

    def process(self, record: ConsumerRecord[bytes, bytes], *, parent: TraceContext | None,
                document_id: str, actor: str, status: str | None = None) -> Span:
        """A CONSUMER span for handling ``record`` (end it once its work is handed over)."""
        return NO_SPAN

    async def shutdown(self) -> None:
        """Export what is still buffered and release the exporter (at the end of the run)."""


NO_TRACING = Tracing()


class _OtelSpan(Span):
    __slots__ = ("_span",)

    def __init__(self, span: Any, context: TraceContext) -> None:
        super().__init__(context)
        self._span = span

    def end(self) -> None:
        self._span.end()


class OtelTracing(Tracing):
    """Spans of the OpenTelemetry SDK with a tracer provider of this process's own (the global
    one is left alone), exported through ``exporter`` by a batch processor (a simple one with
    ``batch=False``: each span is exported when it ends, for tests)."""

    enabled = True

    def __init__(self, exporter: SpanExporter, *, service: str = "lgsp-sim",
                 instance: str | None = None, batch: bool = True) -> None:
        # opentelemetry is imported only when a run traces (a run without pays nothing)
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SimpleSpanProcessor,
        )
        from opentelemetry.trace import SpanKind, set_span_in_context
        from opentelemetry.trace.propagation.tracecontext import (
            TraceContextTextMapPropagator,
        )

        resource = {"service.name": service}
        if instance is not None:
            resource["service.instance.id"] = instance
        self._provider = TracerProvider(resource=Resource.create(resource))
        self._provider.add_span_processor(BatchSpanProcessor(exporter) if batch
                                          else SimpleSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("lgsp.bus.tracing")
        self._propagator = TraceContextTextMapPropagator()
        self._in_context = set_span_in_context
        self._producer, self._consumer = SpanKind.PRODUCER, SpanKind.CONSUMER
        self._closed = False

    def send(self, topic: str, key: bytes | None, *, parent: TraceContext | None,
             document_id: str, actor: str, status: str | None = None) -> Span:
        attributes = _attributes("send", topic, key, document_id, actor, status)
        return self._start(f"send {topic}", self._producer, parent, attributes)

    def process(self, record: ConsumerRecord[bytes, bytes], *, parent: TraceContext | None,
                document_id: str, actor: str, status: str | None = None) -> Span:
        attributes = _attributes("process", record.topic, record.key, document_id, actor, status)
        attributes["messaging.destination.partition.id"] = str(record.partition)
        attributes["messaging.kafka.offset"] = record.offset
        return self._start(f"process {record.topic}", self._consumer, parent, attributes)

    def _start(self, name: str, kind: Any, parent: TraceContext | None,
               attributes: dict[str, Any]) -> Span:
        incoming = None
        if parent is not None:
            carrier = {"traceparent": parent.traceparent.decode("ascii", "replace")}
            if parent.tracestate:
                carrier["tracestate"] = parent.tracestate.decode("ascii", "replace")
            incoming = self._propagator.extract(carrier)  # an invalid one starts a new trace
        span = self._tracer.start_span(name, context=incoming, kind=kind, attributes=attributes)
        out: dict[str, str] = {}
        self._propagator.inject(out, context=self._in_context(span))
        state = out.get("tracestate")
        return _OtelSpan(span, TraceContext(out["traceparent"].encode(),
                                            state.encode() if state else None))

    async def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._provider.shutdown)  # flushes the batch processor


def _attributes(operation: str, topic: str, key: bytes | None, document_id: str, actor: str,
                status: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "messaging.system": "kafka", "messaging.operation.type": operation,
        "messaging.operation.name": operation, "messaging.destination.name": topic,
        "lgsp.document_id": document_id, "lgsp.actor": actor}
    if key is not None:
        attributes["messaging.kafka.message.key"] = key.decode("utf-8", "replace")
    if status is not None:
        attributes["lgsp.status"] = status
    return attributes


def status_label(status: StatusEvent) -> str:
    """``lgsp.status`` of a status record: its code (01..06, business layer) or its transport
    state (FAIL ...)."""
    if status.status_code is not None:
        return str(status.status_code.value)
    return str(status.transport_state.value) if status.transport_state is not None else "unknown"


def otlp_traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of ``endpoint`` (``http://host:4318`` → ``…/v1/traces``; a URL
    with a path is taken as it is); ``ConfigError`` when it is not an http(s) URL."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"--otlp-endpoint {endpoint!r} is not an http(s) URL; give the OTLP/HTTP "
                          "endpoint of a collector, e.g. http://localhost:4318")
    return endpoint if parts.path.strip("/") else endpoint.rstrip("/") + OTLP_TRACES_PATH


def tracing_for(endpoint: str | None, *, instance: str | None = None) -> Tracing:
    """``NO_TRACING`` without an endpoint, else spans exported over OTLP/HTTP to it."""
    if endpoint is None:
        return NO_TRACING
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter,
    )

    return OtelTracing(OTLPSpanExporter(endpoint=otlp_traces_url(endpoint)), instance=instance)
