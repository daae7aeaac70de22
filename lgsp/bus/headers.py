"""Kafka headers of bus records: routing data and one trace entry per hop.

Routing reads headers only (a platform never decodes or re-encodes the signed value), so the bytes a
recipient verifies are the bytes the sender signed. Header keys:

* ``lgsp-kind``   ``document`` or ``status``
* ``lgsp-id``     the DocumentId
* ``lgsp-from``   the original sender (document) or the reporting agency/platform (status)
* ``lgsp-to``     comma-separated recipients this packet is for (document) or the addressee (status)
* ``lgsp-trace``  repeated, one per hop: ``<platform code>@<unix time in µs>``
* ``lgsp-sent``   unix time in µs when the sender handed the document to its producer (hop
  latencies start there)
* ``lgsp-sim-fault``  fault injection only (``--inject``): the status misbehaviour the simulated
  recipient software is to commit (``out-of-order-status``, ``dropped-status``,
  ``forged-status``); no check reads it
* ``lgsp-replay-of``  set by ``lgsp replay --rewrite-ids``: the DocumentId inside the signed
  content, while ``lgsp-id`` carries the replay's new identity (the signed bytes are never
  re-signed)
* ``traceparent`` / ``tracestate``  W3C Trace Context (``--otlp-endpoint`` only): the span that
  caused this record; every record a document causes (forwards, deliveries, statuses) carries it,
  so a service that propagates it joins the document's trace. A router passes on what it
  received (its own hop span's when tracing). Without tracing no record of the run has them.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

from lgsp.errors import DeliveryError
from lgsp.metrics.stages import Stage

KIND = "lgsp-kind"
ID = "lgsp-id"
FROM = "lgsp-from"
TO = "lgsp-to"
TRACE = "lgsp-trace"
REPLAY_OF = "lgsp-replay-of"
SENT = "lgsp-sent"
FAULT = "lgsp-sim-fault"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

DOCUMENT = b"document"
STATUS = b"status"

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class TraceEntry:
    platform: str
    at_us: int
    """Unix time in microseconds when the hop handled the record."""


@dataclass(frozen=True, slots=True)
class TraceContext:
    """W3C Trace Context of the span that caused a record (``lgsp.bus.tracing``)."""

    traceparent: bytes
    tracestate: bytes | None = None


@dataclass(frozen=True, slots=True)
class Routing:
    """The routing facts of one record, read from its headers."""

    kind: bytes
    document_id: str
    from_code: str
    to: tuple[str, ...]
    trace: tuple[TraceEntry, ...]
    replay_of: str | None = None
    """The DocumentId in the signed content when ``document_id`` is a replay's new identity."""
    sent_us: int | None = None
    """When the sender submitted the document (unix µs), if it said."""
    fault: str | None = None
    """The misbehaviour the simulated recipient is told to commit (fault injection only)."""
    context: TraceContext | None = None
    """The W3C trace context the record carried, if any."""

    @property
    def content_document_id(self) -> str:
        return self.replay_of or self.document_id

    @property
    def last_hop(self) -> str | None:
        return self.trace[-1].platform if self.trace else None


def build(kind: bytes, document_id: str, from_code: str, to: Sequence[str],
          trace: Sequence[TraceEntry] = (), replay_of: str | None = None,
          sent_us: int | None = None, fault: str | None = None,
          context: TraceContext | None = None) -> Headers:
    headers: Headers = [(KIND, kind), (ID, document_id.encode()), (FROM, from_code.encode()),
                        (TO, ",".join(to).encode())]
    if replay_of:
        headers.append((REPLAY_OF, replay_of.encode()))
    if sent_us is not None:
        headers.append((SENT, str(sent_us).encode()))
    if fault:
        headers.append((FAULT, fault.encode()))
    if context is not None:
        headers.append((TRACEPARENT, context.traceparent))
        if context.tracestate:
            headers.append((TRACESTATE, context.tracestate))
    headers += [(TRACE, f"{t.platform}@{t.at_us}".encode()) for t in trace]
    return headers


def with_hop(routing: Routing, platform: str, to: Sequence[str],
             context: TraceContext | None = None) -> Headers:
    """Headers for the next hop: same identity, new recipients, one more trace entry; the trace
    context of this hop's span (``context``), else the one received."""
    hop = TraceEntry(platform, time.time_ns() // 1000)
    return build(routing.kind, routing.document_id, routing.from_code, to, (*routing.trace, hop),
                 routing.replay_of, routing.sent_us, routing.fault, context or routing.context)


def hop_latencies(routing: Routing, now_us: int, national_axis: str) -> list[tuple[Stage, int]]:
    """(stage, µs) of each hop a document took, on the wall clock of the records' hosts:
    ``hop.submit`` (sender → its platform), ``hop.lgsp_to_vdxp`` / ``hop.vdxp_to_lgsp`` /
    ``hop.lgsp_to_lgsp`` (between platforms) and ``hop.deliver`` (last platform → recipient)."""
    stops: list[tuple[str | None, int | None]] = [
        (None, routing.sent_us), *((t.platform, t.at_us) for t in routing.trace),
        ("recipient", now_us)]
    found = []
    for (here, at), (there, next_at) in itertools.pairwise(stops):
        if at is None or there is None or next_at is None:
            continue
        found.append((Stage.hop(here, there, national_axis), max(next_at - at, 0)))
    return found


def parse(headers: Sequence[tuple[str, bytes | None]]) -> Routing:
    """Routing facts; ``DeliveryError(reason='missing_routing_headers')`` if incomplete."""
    single: dict[str, bytes] = {}
    trace: list[TraceEntry] = []
    try:
        for key, value in headers:
            if value is None:
                continue
            if key == TRACE:
                platform, _, at = value.decode().rpartition("@")
                trace.append(TraceEntry(platform, int(at)))
            else:
                single[key] = value
        kind = single[KIND]
        if kind not in (DOCUMENT, STATUS):
            raise DeliveryError(f"unknown record kind {kind!r}", reason="missing_routing_headers")
        to = tuple(c for c in single[TO].decode().split(",") if c)
        if not to:
            raise DeliveryError("record has an empty lgsp-to header",
                                reason="missing_routing_headers")
        replay_of = single[REPLAY_OF].decode() if REPLAY_OF in single else None
        sent_us = int(single[SENT]) if SENT in single else None
        fault = single[FAULT].decode() if FAULT in single else None
        context = (TraceContext(single[TRACEPARENT], single.get(TRACESTATE))
                   if TRACEPARENT in single else None)
        return Routing(kind, single[ID].decode(), single[FROM].decode(), to, tuple(trace),
                       replay_of, sent_us, fault, context)
    except KeyError as exc:
        raise DeliveryError(f"record lacks the {exc.args[0]} header",
                            reason="missing_routing_headers") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise DeliveryError(f"unreadable routing header: {exc}",
                            reason="missing_routing_headers") from None
