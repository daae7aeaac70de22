"""What tracing (``--otlp-endpoint``) costs per document, and what a run without it pays.

One document's journey is replayed through the exact calls the components make at each record
(``lgsp.bus.tracing`` + ``lgsp.bus.headers``), without Kafka: the sender's submit, a platform hop
at each of LGSP → VDXP → LGSP, the recipient's delivery, statuses 01, 03, 04, 05, 06 each with its
three hops back and the tracker's receipt — 25 records written, 24 handled, 30 spans when
tracing. Three ways:

* ``headers only``  the header work alone (``build``/``with_hop``/``parse``, no tracing call): what
  the code did before tracing existed;
* ``tracing off``   the same plus every call to ``NO_TRACING`` (the default path of a run);
* ``tracing on``    ``OtelTracing`` with the SDK's batch processor and an exporter that drops the
  spans, plus (separately) the OTLP/protobuf encoding of those spans that the OTLP/HTTP exporter
  does on its own thread before sending.

Each way is timed over ``--documents`` journeys with ``perf_counter_ns``, in ``--rounds`` rounds
(median). The difference ``tracing off − headers only`` is what a run without ``--otlp-endpoint``
pays; compare it with the stage-cost bound (``stage_cost.py``: hundreds of µs per document).

    python -m benchmarks.tracing_cost [--documents 2000] [--rounds 7]   # from the repository root
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import ConsumerRecord
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from lgsp.bus import headers
from lgsp.bus.tracing import NO_TRACING, OtelTracing, Tracing

ROUTE = ("LGSP-H56", "VDXP", "LGSP-H26")
STATUSES = ("01", "03", "04", "05", "06")
SENDER, RECIPIENT = "000.00.00.H56", "000.00.00.H26"
DOC_ID = f"{SENDER},2026/12/04,123/QĐ-UBND"


class _Drop(SpanExporter):
    """Counts what it is given and drops it (the batch processor's work is still done)."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


def _record(topic: str, hdrs: headers.Headers) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 0, 0, 0, 0, RECIPIENT.encode(), b"", None, 0, 0, hdrs)


def journey(tracing: Tracing, *, call_tracing: bool = True) -> int:
    """One document from submit to the tracker's receipt of 06; returns the records handled."""
    handled = 0
    span = tracing.send("inbound", DOC_ID.encode(), parent=None, document_id=DOC_ID,
                        actor=SENDER) if call_tracing else None
    hdrs = headers.build(headers.DOCUMENT, DOC_ID, SENDER, (RECIPIENT,), sent_us=1,
                         context=span.context if span else None)
    if span:
        span.end()

    def hops(hdrs: headers.Headers, route: Sequence[str], status: str | None = None
             ) -> headers.Headers:
        nonlocal handled
        for platform_code in route:
            record = _record(f"{platform_code}.inbound", hdrs)
            routing = headers.parse(record.headers)
            hop = tracing.process(record, parent=routing.context, document_id=DOC_ID,
                                  actor=platform_code, status=status) if call_tracing else None
            hdrs = headers.with_hop(routing, platform_code, routing.to,
                                    hop.context if hop else None)
            if hop:
                hop.end()
            handled += 1
        return hdrs

    hdrs = hops(hdrs, ROUTE)
    delivered = _record("deliver", hdrs)
    routing = headers.parse(delivered.headers)
    delivery = tracing.process(delivered, parent=routing.context, document_id=DOC_ID,
                               actor=RECIPIENT) if call_tracing else None
    handled += 1
    for code in STATUSES:
        status = tracing.send("inbound", SENDER.encode(), parent=delivery.context if delivery
                              else None, document_id=DOC_ID, actor=RECIPIENT,
                              status=code) if call_tracing else None
        back = headers.build(headers.STATUS, DOC_ID, RECIPIENT, (SENDER,),
                             context=status.context if status else None)
        if status:
            status.end()
        back = hops(back, ROUTE[::-1], code)
        received = _record("deliver", back)
        routing = headers.parse(received.headers)
        if call_tracing:
            tracing.process(received, parent=routing.context, document_id=DOC_ID, actor=SENDER,
                            status=code).end()
        handled += 1
    if delivery:
        delivery.end()
    return handled


def _time(ways: Sequence[Callable[[], Any]], documents: int, rounds: int) -> list[float]:
    """Median µs per document of each way over ``rounds`` rounds of ``documents`` journeys; the
    ways take turns in every round, so a slow spell of a shared machine hits them alike."""
    for fn in ways:
        fn()  # warm-up
    samples: list[list[float]] = [[] for _ in ways]
    for _ in range(rounds):
        for fn, taken in zip(ways, samples, strict=True):
            start = time.perf_counter_ns()
            for _ in range(documents):
                fn()
            taken.append((time.perf_counter_ns() - start) / documents / 1000)
    return [statistics.median(taken) for taken in samples]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    records = journey(NO_TRACING)
    dropped = _Drop()
    tracing = OtelTracing(dropped)
    collect = OtelTracing(memory := _Keep(), batch=False)
    journey(collect)
    spans = len(memory.spans)
    base, off, on, encode = _time([
        lambda: journey(NO_TRACING, call_tracing=False), lambda: journey(NO_TRACING),
        lambda: journey(tracing), lambda: encode_spans(memory.spans).SerializeToString()],
        args.documents, args.rounds)
    tracing._provider.shutdown()
    collect._provider.shutdown()
    print(f"one document's journey: {records + 1} records written, {records} handled, "
          f"{spans} spans when tracing")
    print(f"headers only (before tracing)   {base:8.2f} µs/document")
    print(f"tracing off (NO_TRACING)        {off:8.2f} µs/document  "
          f"({off - base:+.2f} µs, {(off - base) / base:+.1%} of the header work)")
    print(f"tracing on (SDK, batch, dropped){on:8.2f} µs/document  (+{on - base:.2f} µs)")
    print(f"  + OTLP/protobuf encoding       {encode:8.2f} µs/document (exporter thread)")
    print(f"environment: Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs visible, {platform.platform()}")
    print(f"command: python -m benchmarks.tracing_cost --documents {args.documents} "
          f"--rounds {args.rounds}")
    return 0


class _Keep(SpanExporter):
    """Keeps the spans of one journey (simple processor: exported as each ends)."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += spans
        return SpanExportResult.SUCCESS


if __name__ == "__main__":
    raise SystemExit(main())
