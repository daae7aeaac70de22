"""Routing, pure: one record read from the platform's inbound topic in, the records it causes
out (docs/contract.md §10). No Kafka here; the clock comes in as an argument.

Documents: each recipient is local (a copy on the deliver topic, key and ``lgsp-to`` = the
recipient), forwarded (an LGSP: one packet for all of them to VDXP; VDXP: one packet per recipient
to its LGSP; key = the key read) or failed (a transport FAIL ``StatusEvent`` back to the sender).
Statuses go on towards their addressee. Every record written for a document or a status keeps the
value bytes and every header read, and gets one ``lgsp-trace`` entry of this platform appended.
A record without its routing headers, or a status that cannot go on, is dead-lettered.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from examples.reference_recipient import wire
from examples.reference_router import headers as h
from examples.reference_router.behaviour import Behaviour
from examples.reference_router.directory import VDXP, Decision, Platform

MISSING_ROUTING_HEADERS = "missing_routing_headers"

# what each written record is, for the counts
DELIVERED, FORWARDED, PASSED_ON, FAIL_STATUS, DEAD_LETTER = (
    "delivered", "forwarded", "status_passed_on", "fail_status", "dead_letter")


@dataclass(frozen=True, slots=True)
class Record:
    """A record as read."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: h.Headers


@dataclass(frozen=True, slots=True)
class Out:
    """A record to write; ``what`` says which kind of output it is (for the counts)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: h.Headers
    what: str


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of a run; ``prefix`` is ``lgsp.<run>.`` or, for a rotated generation N,
    ``lgsp.<run>.g<N>.``: what a record causes stays in the generation it came from."""

    run_id: str
    prefix: str

    @classmethod
    def of(cls, run_id: str, inbound_topic: str, platform: str) -> Topics:
        suffix = f"{platform}.inbound"
        base = f"lgsp.{run_id}."
        if inbound_topic.startswith(base) and inbound_topic.endswith(suffix):
            return cls(run_id, inbound_topic.removesuffix(suffix))
        return cls(run_id, base)

    def inbound(self, platform: str) -> str:
        return f"{self.prefix}{platform}.inbound"

    def deliver(self, platform: str) -> str:
        return f"{self.prefix}{platform}.deliver"

    @property
    def dead_letter(self) -> str:
        return f"lgsp.{self.run_id}.dead-letter"


class Router:
    """The routing of one platform; ``counts`` tallies decisions (and misbehaviour) as made."""

    def __init__(self, platform: Platform, run_id: str, registry: wire.Registry,
                 behaviour: Behaviour | None = None) -> None:
        self.platform = platform
        self.run_id = run_id
        self.registry = registry
        self.behaviour = behaviour or Behaviour()
        self.counts: Counter[str] = Counter()

    @property
    def stage(self) -> str:
        return f"router:{self.platform.code}"

    def route(self, record: Record, now_us: int) -> list[Out]:
        topics = Topics.of(self.run_id, record.topic, self.platform.name)
        headers = record.headers
        kind = h.text(headers, h.KIND)
        doc_id = h.text(headers, h.ID)
        sender = h.text(headers, h.FROM)
        recipients = h.recipients(headers)
        missing = [name for name, value in ((h.KIND, kind), (h.ID, doc_id), (h.FROM, sender))
                   if not value]
        if not recipients:
            missing.append(h.TO)
        if missing or kind not in (h.DOCUMENT, h.STATUS) or doc_id is None or sender is None:
            detail = (f"missing or empty: {', '.join(missing)}" if missing
                      else f"lgsp-kind {kind!r} is neither document nor status")
            return [self._dead_letter(record, topics, MISSING_ROUTING_HEADERS, detail, now_us)]
        entry = None if self.behaviour.no_trace else h.trace_entry(self.platform.code, now_us)
        if kind == h.STATUS:
            self.counts["statuses"] += 1
            return self._status(record, topics, entry, now_us)
        self.counts["documents"] += 1
        return self._document(record, topics, doc_id, sender, recipients, entry, now_us)

    # --- documents ----------------------------------------------------------------------

    def _document(self, record: Record, topics: Topics, doc_id: str, sender: str,
                  recipients: list[str], entry: h.Header | None, now_us: int) -> list[Out]:
        hop = h.previous_hop(record.headers)
        local: list[str] = []
        forwarded: dict[str, list[str]] = {}
        failed: list[tuple[str, str, str]] = []
        for code in recipients:
            route = self.platform.recipient(code, hop)
            if route.decision is Decision.LOCAL:
                local.append(code)
            elif route.decision is Decision.FORWARD and route.to is not None:
                forwarded.setdefault(route.to, []).append(code)
            else:
                failed.append((code, route.reason or "unknown_recipient", route.detail))
        self.counts["recipients_local"] += len(local)
        self.counts["recipients_forwarded"] += sum(len(v) for v in forwarded.values())
        self.counts["recipients_failed"] += len(failed)

        out: list[Out] = []
        for code in local:
            topic = topics.deliver(self.platform.name)
            if self.behaviour.wrong_topic():
                self.counts["misbehaviour:wrong_topic"] += 1
                topic = topics.inbound(self._elsewhere())
            key = doc_id.encode() if self.behaviour.key_by_document else code.encode()
            out += self._copies(Out(topic, key, record.value,
                                    h.passed_on(record.headers, code, entry), DELIVERED))
        for platform, codes in forwarded.items():
            split = self.platform.is_vdxp or self.behaviour.split_packets
            packets = [[code] for code in codes] if split else [codes]
            for packet in packets:
                out += self._copies(Out(topics.inbound(platform), record.key, record.value,
                                        h.passed_on(record.headers, ",".join(packet), entry),
                                        FORWARDED))
        if not self.behaviour.no_fail_status:
            for code, reason, detail in failed:
                out += self._fail_status(record, topics, doc_id, sender, code, reason, detail,
                                         entry, now_us)
        elif failed:
            self.counts["misbehaviour:no_fail_status"] += len(failed)
        return out

    def _elsewhere(self) -> str:
        """Where a wrong-topic copy goes: VDXP's inbound from an LGSP, some LGSP's from VDXP."""
        if not self.platform.is_vdxp:
            return VDXP
        lgsps = self.platform.directory.lgsps()
        return self.behaviour.pick(lgsps) if lgsps else VDXP

    def _copies(self, out: Out) -> list[Out]:
        """The copy as the misbehaviour switches have it: dropped, twice, or once."""
        if self.behaviour.lose():
            self.counts["misbehaviour:lost"] += 1
            return []
        if self.behaviour.duplicate():
            self.counts["misbehaviour:duplicated"] += 1
            return [out, out]
        return [out]

    def _fail_status(self, record: Record, topics: Topics, doc_id: str, sender: str,
                     recipient: str, reason: str, detail: str, entry: h.Header | None,
                     now_us: int) -> list[Out]:
        """The transport FAIL status for a failed recipient, on its way to the sender as a status
        this platform received (its previous hop is this platform: never misrouted)."""
        value = self.registry.encode_framed(wire.STATUS_EVENT, {
            "layer": "TRANSPORT", "from_code": self.platform.code, "document_id": doc_id,
            "sender": sender, "recipient": recipient, "status_code": None,
            "transport_state": "FAIL", "reason": reason, "description": detail,
            "staff": None, "timestamp": now_us})
        status_headers: list[h.Header] = [
            (h.KIND, h.STATUS.encode()), (h.ID, doc_id.encode()),
            (h.FROM, self.platform.code.encode()), (h.TO, sender.encode()),
            *h.traces(record.headers)]
        if entry is not None:
            status_headers.append(entry)
        status_headers += [(name, value_) for name, value_ in record.headers
                           if name in (h.TRACEPARENT, h.TRACESTATE)]
        route = self.platform.status(sender, None)
        key = sender.encode()
        if route.decision is Decision.LOCAL:
            topic = topics.deliver(self.platform.name)
        elif route.decision is Decision.FORWARD and route.to is not None:
            topic = topics.inbound(route.to)
        else:  # at VDXP, a sender in no directory: nowhere to send it
            undeliverable = Record(record.topic, record.partition, record.offset, key, value,
                                   tuple(status_headers))
            return [self._dead_letter(undeliverable, topics, route.reason or "unknown_recipient",
                                      f"the FAIL status for {recipient} cannot reach its sender: "
                                      f"{route.detail}", now_us)]
        return [Out(topic, key, value, tuple(status_headers), FAIL_STATUS)]

    # --- statuses -----------------------------------------------------------------------

    def _status(self, record: Record, topics: Topics, entry: h.Header | None,
                now_us: int) -> list[Out]:
        addressee = (h.text(record.headers, h.TO) or "").strip()
        route = self.platform.status(addressee, h.previous_hop(record.headers))
        if route.decision is Decision.LOCAL:
            topic = topics.deliver(self.platform.name)
        elif route.decision is Decision.FORWARD and route.to is not None:
            topic = topics.inbound(route.to)
        else:
            return [self._dead_letter(record, topics, route.reason or "unknown_recipient",
                                      route.detail, now_us)]
        kept = record.headers if entry is None else (*record.headers, entry)
        return self._copies(Out(topic, addressee.encode(), record.value, kept, PASSED_ON))

    # --- dead letters -------------------------------------------------------------------

    def _dead_letter(self, record: Record, topics: Topics, reason: str, detail: str,
                     now_us: int) -> Out:
        self.counts[f"dead_letter:{reason}"] += 1
        value = self.registry.encode_framed(wire.DEAD_LETTER, {
            "reason": reason, "detail": detail, "stage": self.stage,
            "source_topic": record.topic, "source_partition": record.partition,
            "source_offset": record.offset, "key": record.key, "value": record.value,
            "headers": [{"key": name, "value": value} for name, value in record.headers],
            "failed_at": now_us})
        return Out(topics.dead_letter, record.key, value, ((h.REASON, reason.encode()),),
                   DEAD_LETTER)
