"""Grading an outside router (``--external platform=…`` / ``vdxp``) against the contract's table.

The audit is told every record on the router's inbound topic (what it must route) and on the
topics it writes to (docs/contract.md §10). From each record read it works out, with the same
pure routing functions lgsp-sim's own routers use (``lgsp.bus.routing``), what the router must
write: per local recipient a copy on its deliver topic, per destination platform a forwarded
packet, per failed recipient a transport FAIL status to the sender, per status its next hop.
At the end it matches what came with what was due, exactly once each, and counts each rule broken
into the run's metrics (per party and check, with the first examples) like the recipients'
grader (``consumers.conformance``): a copy missing, written twice, on the wrong topic, a packet
split, a FAIL status missing, a trace entry missing, bytes or headers changed. The latency of the
hop (broker timestamp of the record read → of what the router wrote for it) goes into the
``external_hop`` histogram.

A record on a topic other parties also write (VDXP's inbound topic, for an LGSP's router; the
LGSPs' inbound topics, for VDXP's) is the router's when its last trace entry is the router's or,
without one, when it is exactly what the router had to write.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from lgsp.bus import headers
from lgsp.bus.routing import route_document, route_status
from lgsp.bus.topics import TopicNames
from lgsp.codec.events import EventCodec
from lgsp.conformance import MAX_EXAMPLES, PlatformCheck
from lgsp.domain.status import StatusLayer, TransportState
from lgsp.domain.topology import VDXP, Topology
from lgsp.errors import DecodeError, DeliveryError
from lgsp.external import is_probe
from lgsp.metrics.run import RunMetrics
from lgsp.metrics.stages import Stage

RawHeaders = Sequence[tuple[str, bytes | None]]
T = TypeVar("T")
SHARED_KEPT_MS = 120_000
"""How long another party's record on a shared topic is kept in case it was due after all."""
SHARED_PRUNE_EVERY = 4096
UNROUTABLE = "unroutable"
"""The kind of a record written without routing headers."""
KEPT = (headers.KIND, headers.ID, headers.FROM, headers.SENT, headers.REPLAY_OF, headers.FAULT)
"""Headers a router passes on unchanged (``lgsp-to`` is replaced, ``lgsp-trace`` grows,
``traceparent``/``tracestate`` may be its own span's)."""


@dataclass(frozen=True, slots=True)
class Seen:
    """One record read from the bus, as the audit needs it (its value only as a digest)."""

    topic: str
    key: bytes | None
    digest: str
    headers: RawHeaders
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Written:
    """A record on a topic the router writes to, with its routing headers parsed."""

    seen: Seen
    routing: headers.Routing
    match: tuple[str, ...]
    """(kind, DocumentId, topic, recipients, value digest or ``FAIL:<recipient>``)."""
    fail_reason: str | None = None
    """A transport FAIL status the platform issued: its reason."""


@dataclass(frozen=True, slots=True)
class Due:
    """A record the router must write because of one it read."""

    match: tuple[str, ...]
    source: Seen
    routing: headers.Routing
    """The routing headers of the record read."""
    key: bytes | None
    headers_from: headers.Routing
    """Whose kept headers the written record must carry (the record read; for a FAIL status,
    the status's own)."""
    fail_reason: str | None = None

    @property
    def document_id(self) -> str:
        return self.match[1]

    @property
    def topic(self) -> str:
        return self.match[2]

    @property
    def to(self) -> tuple[str, ...]:
        return tuple(self.match[3].split(","))


def _digest(value: bytes | None) -> str:
    return hashlib.sha256(value or b"").hexdigest()[:32]


def _kept(raw: RawHeaders) -> dict[str, list[bytes | None]]:
    kept: dict[str, list[bytes | None]] = defaultdict(list)
    for name, value in raw:
        if name in KEPT:
            kept[name].append(value)
    return dict(kept)


@dataclass(slots=True)
class PlatformAudit:
    """What one outside router read and wrote: each record written is paired with the one it
    was due for as soon as both were read (and both forgotten); what is left is graded at the
    end."""

    platform: str
    topology: Topology
    topics: TopicNames
    events: EventCodec
    lenient: bool = False
    metrics: RunMetrics = field(default_factory=RunMetrics)
    """Where the grade goes (party = the platform)."""
    due: dict[tuple[str, ...], list[Due]] = field(default_factory=dict)
    """Due and not written (yet)."""
    written: dict[tuple[str, ...], list[Written]] = field(default_factory=dict)
    """Written and not due (yet: its record read may come later, or never)."""
    shared: dict[tuple[str, ...], list[Written]] = field(default_factory=dict)
    """Records without the router's trace entry on topics others write too: the router's when
    they are exactly what was due; forgotten ``SHARED_KEPT_MS`` after newer records."""
    paired: set[int] = field(default_factory=set)
    """Hashes of every match paired once (a record written again for it is a second copy)."""
    read: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cases: dict[PlatformCheck, int] = field(default_factory=lambda: defaultdict(int))
    """How often each check applied (0: not exercised by this run's traffic)."""
    newest_ms: int = 0
    shared_added: int = 0
    grading: _Grading = field(init=False)

    def __post_init__(self) -> None:
        self.grading = _Grading(self.platform, self.metrics, math.inf, self.topology)

    def measure_from(self, at_ms: float) -> None:
        """Hop latency is recorded for records read from ``at_ms`` on (the end of the warm-up;
        before it is set, for none: probes and warm-up)."""
        self.grading.measured_from_ms = at_ms

    @property
    def inbound(self) -> str:
        return self.topics.inbound(self.platform)

    @property
    def outputs(self) -> list[str]:
        """The topics the router writes to."""
        mine = [self.topics.deliver(self.platform)]
        if self.platform == VDXP:
            return mine + [self.topics.inbound(p) for p in self.topology.platforms if p != VDXP]
        return [*mine, self.topics.inbound(VDXP)]

    @property
    def topics_read(self) -> list[str]:
        return [self.inbound, *self.outputs]

    # ---- reading --------------------------------------------------------------------------
    def see(self, topic: str, key: bytes | None, value: bytes | None, raw: RawHeaders,
            timestamp_ms: int) -> None:
        """A record of one of ``topics_read``."""
        self.newest_ms = max(self.newest_ms, timestamp_ms)
        seen = Seen(topic, key, _digest(value), tuple(raw), timestamp_ms)
        if topic == self.inbound:
            self._input(seen)
        elif topic in self.outputs:
            self._output(seen, value)

    def _input(self, seen: Seen) -> None:
        try:
            routing = headers.parse(seen.headers)
        except DeliveryError:  # the router dead-letters it; nothing else is due
            self.read["unroutable"] += 1
            return
        if routing.kind == headers.DOCUMENT:
            self.read["documents"] += 1
            self._document_due(seen, routing)
        else:
            self.read["statuses"] += 1
            self._status_due(seen, routing, routing.to[0], came_from=routing.last_hop,
                             value=seen.digest, fail=None)

    def _document_due(self, seen: Seen, routing: headers.Routing) -> None:
        decision = route_document(self.topology, self.platform, routing.to,
                                  came_from=routing.last_hop, lenient=self.lenient)
        digest = seen.digest
        kind = routing.kind.decode()
        for recipient in decision.local:
            match = (kind, routing.document_id, self.topics.deliver(self.platform), recipient,
                     digest)
            self._due(Due(match, seen, routing, recipient.encode(), routing))
        for destination, recipients in decision.forward:
            match = (kind, routing.document_id, self.topics.inbound(destination),
                     ",".join(recipients), digest)
            self._due(Due(match, seen, routing, seen.key, routing))
        for recipient, reason in decision.failed.items():
            status = headers.Routing(headers.STATUS, routing.document_id, self.platform,
                                     (routing.from_code,), routing.trace)
            self._status_due(seen, status, routing.from_code, came_from=None,
                             value=f"FAIL:{recipient}", fail=reason)

    def _status_due(self, seen: Seen, routing: headers.Routing, addressee: str, *,
                    came_from: str | None, value: str, fail: str | None) -> None:
        route = route_status(self.topology, self.platform, addressee, came_from=came_from)
        if route.failure is not None:  # the router dead-letters it
            return
        topic = (self.topics.deliver(self.platform) if route.next_platform is None
                 else self.topics.inbound(route.next_platform))
        match = ("status", routing.document_id, topic, addressee, value)
        self._due(Due(match, seen, routing, addressee.encode(), routing, fail_reason=fail))

    def _output(self, seen: Seen, value: bytes | None) -> None:
        try:
            routing = headers.parse(seen.headers)
        except DeliveryError:
            routing = None
        mine = routing is not None and routing.last_hop == self.platform
        if not mine and seen.topic != self.topics.deliver(self.platform):
            if routing is not None:  # another party's, unless it is exactly what was due
                written = self._written(seen, routing, value)
                if written.match in self.due:
                    self._write(written)
                else:
                    self.shared.setdefault(written.match, []).append(written)
                    self._forget_old_shared()
            return
        if routing is None:
            self._write(Written(seen, headers.Routing(b"?", "?", "?", ("?",), ()),
                                (UNROUTABLE, "?", seen.topic, "?", seen.digest)))
            return
        self._write(self._written(seen, routing, value))

    def _written(self, seen: Seen, routing: headers.Routing, value: bytes | None) -> Written:
        kind = routing.kind.decode()
        identity = seen.digest
        fail = None
        if routing.kind == headers.STATUS and routing.from_code == self.platform:
            try:
                status = self.events.decode_status(value or b"")
            except DecodeError:
                status = None
            if status is not None and status.layer is StatusLayer.TRANSPORT \
                    and status.transport_state is TransportState.FAIL:
                identity, fail = f"FAIL:{status.recipient}", status.reason or ""
        return Written(seen, routing, (kind, routing.document_id, seen.topic,
                                       ",".join(routing.to), identity), fail)

    # ---- pairing as records come -------------------------------------------------------
    def _due(self, due: Due) -> None:
        """A record the router must write: paired with it if it was read already."""
        if due.fail_reason is not None:
            self.cases[PlatformCheck.UNKNOWN_RECIPIENT_FAILED] += 1
        else:
            self.cases[PlatformCheck.COPY_DELIVERED] += 1
        if self.platform != VDXP and due.topic == self.topics.inbound(VDXP) \
                and due.match[0] == "document" and len(due.to) > 1:
            self.cases[PlatformCheck.ONE_PACKET_PER_DESTINATION] += 1
        for early in (self.written, self.shared):
            waiting = early.get(due.match)
            if waiting:
                written = _take(waiting, lambda w: w.routing.trace[:-1] == due.routing.trace)
                if not waiting:
                    del early[due.match]
                self._pair(due, written)
                return
        self.due.setdefault(due.match, []).append(due)

    def _write(self, written: Written) -> None:
        """A record the router wrote: paired with the one it was due for, if read already
        (first the one it follows from by its trace: the same document can reach a router
        twice, e.g. back from the axis after a wrong turn)."""
        dues = self.due.get(written.match)
        if not dues:
            self.written.setdefault(written.match, []).append(written)
            return
        due = _take(dues, lambda d: written.routing.trace[:-1] == d.routing.trace)
        if not dues:
            del self.due[written.match]
        self._pair(due, written)

    def _pair(self, due: Due, written: Written) -> None:
        for check in (PlatformCheck.ONE_COPY, PlatformCheck.RIGHT_DESTINATION,
                      PlatformCheck.TRACE_APPENDED, PlatformCheck.RECORD_INTACT):
            self.cases[check] += 1
        self.paired.add(hash(due.match))
        self.grading.matched(due, written)

    def _forget_old_shared(self) -> None:
        """Other parties' records are kept only as long as a router's input could still be
        read after its output (fetches of different topics do not come in time order): every
        ``SHARED_PRUNE_EVERY`` of them, those older than ``SHARED_KEPT_MS`` are forgotten."""
        self.shared_added += 1
        if self.shared_added % SHARED_PRUNE_EVERY:
            return
        horizon = self.newest_ms - SHARED_KEPT_MS
        for match in [m for m, ws in self.shared.items()
                      if all(w.seen.timestamp_ms < horizon for w in ws)]:
            del self.shared[match]

    # ---- the end --------------------------------------------------------------------------
    def finish(self) -> RunMetrics:
        """Grade what was never paired (a copy missing, written twice or elsewhere, a packet
        split, bytes changed) and the counts read; the audit's metrics."""
        left_due = [d for dues in self.due.values() for d in dues]
        left_written = [w for ws in self.written.values() for w in ws]
        self.grading.unmatched(left_due, left_written, paired=self.paired)
        for what, count in self.read.items():
            self.metrics.record_external(self.platform, f"read|{what}", count)
        for check in (PlatformCheck.ONE_COPY, PlatformCheck.RIGHT_DESTINATION):
            self.cases[check] += len(left_written)
        for check in PlatformCheck:
            self.metrics.record_external(self.platform, f"cases|{check.value}",
                                         self.cases[check])
        return self.metrics


def _take(items: list[T], prefer: Callable[[T], bool]) -> T:
    """Remove and return the first of ``items`` that ``prefer`` likes, else the first."""
    chosen = next((i for i in items if prefer(i)), items[0])
    items.remove(chosen)
    return chosen


class _Grading:
    """One grading pass: failures counted once per (check, DocumentId, recipients)."""

    def __init__(self, platform: str, metrics: RunMetrics, measured_from_ms: float,
                 topology: Topology) -> None:
        self.platform = platform
        self.topology = topology
        self.metrics = metrics
        self.measured_from_ms = measured_from_ms
        self._counted: set[tuple[str, str, str]] = set()

    def failed(self, check: PlatformCheck, document_id: str, recipients: str, *, expected: str,
               came: str) -> None:
        once = (check.value, document_id, recipients)
        if once in self._counted:
            return
        self._counted.add(once)
        self.metrics.record_conformance_failure(
            self.platform, check.value, [document_id, recipients, expected, came], MAX_EXAMPLES)

    def matched(self, due: Due, written: Written) -> None:
        self.metrics.record_external(self.platform, "written|" + (
            "fail_status" if due.fail_reason is not None else due.match[0]))
        if due.source.timestamp_ms >= self.measured_from_ms:
            hop_ms = max(written.seen.timestamp_ms - due.source.timestamp_ms, 0)
            self.metrics.stage(Stage.EXTERNAL_HOP).record_ns(hop_ms * 1_000_000)
        recipients = (due.match[4].removeprefix("FAIL:") if due.fail_reason is not None
                      else due.match[3])
        if due.fail_reason is not None and written.fail_reason != due.fail_reason:
            self.failed(PlatformCheck.UNKNOWN_RECIPIENT_FAILED, due.document_id, recipients,
                        expected=f"transport FAIL {due.fail_reason}",
                        came=f"transport FAIL {written.fail_reason or '(no reason)'}")
        self._trace(due, written)
        self._intact(due, written)

    def _trace(self, due: Due, written: Written) -> None:
        before, after = due.routing.trace, written.routing.trace
        own = after[len(before):]
        if after[:len(before)] == before and len(own) == 1 and own[0].platform == self.platform:
            return
        expected = f"{len(before)} trace entries read + {self.platform}@<µs>"
        if len(after) == len(before):
            came = "no entry of its own"
        elif after[:len(before)] != before:
            came = f"the trace read changed ({len(after)} entries)"
        else:
            came = f"{len(own)} new entries: " + ", ".join(t.platform for t in own)
        self.failed(PlatformCheck.TRACE_APPENDED, due.document_id, due.match[3],
                    expected=expected, came=came)

    def _intact(self, due: Due, written: Written) -> None:
        recipients = due.match[3]
        if written.seen.key != due.key:
            self.failed(PlatformCheck.RECORD_INTACT, due.document_id, recipients,
                        expected=f"key {_text(due.key)}", came=f"key {_text(written.seen.key)}")
            return
        if due.fail_reason is not None:
            return  # the platform's own status: its headers are checked by matching
        read, came = _kept(due.source.headers), _kept(written.seen.headers)
        for name in KEPT:
            if read.get(name) != came.get(name):
                self.failed(PlatformCheck.RECORD_INTACT, due.document_id, recipients,
                            expected=f"{name} {_texts(read.get(name))}",
                            came=f"{name} {_texts(came.get(name))}")
                return

    def unmatched(self, due: list[Due], written: list[Written], *, paired: set[int]) -> None:
        """What was due and did not come, what came and was not due: told apart by what they
        have in common (same document: a split packet, changed bytes, the wrong topic)."""
        written_by_doc: dict[tuple[str, str], list[Written]] = defaultdict(list)
        for one in written:
            written_by_doc[(one.match[0], one.match[1])].append(one)
        for missing in sorted(due, key=lambda d: (-len(d.to), d.match)):
            came = written_by_doc.get((missing.match[0], missing.document_id), [])
            if self._split(missing, came) or self._changed(missing, came) \
                    or self._elsewhere(missing, came):
                continue
            if missing.fail_reason is not None:
                self.failed(PlatformCheck.UNKNOWN_RECIPIENT_FAILED, missing.document_id,
                            missing.match[4].removeprefix("FAIL:"),
                            expected=f"transport FAIL {missing.fail_reason} to {missing.topic}",
                            came="no FAIL status")
            else:
                self.failed(PlatformCheck.COPY_DELIVERED, missing.document_id, missing.match[3],
                            expected=f"{missing.match[0]} on {missing.topic}", came="nothing")
        for rest in written_by_doc.values():
            for one in rest:
                if one.match[0] == UNROUTABLE:
                    self.failed(PlatformCheck.RECORD_INTACT, "(unknown)", "(unknown)",
                                expected="routing headers (docs/contract.md §2)",
                                came=f"a record without them on {one.seen.topic}")
                    continue
                again = hash(one.match) in paired
                if is_probe(one.routing.document_id) and not again:
                    continue  # an external recipient's probe, put on the deliver topic directly
                check = PlatformCheck.ONE_COPY if again else PlatformCheck.RIGHT_DESTINATION
                self.failed(check, one.match[1], one.match[3],
                            expected="written once" if check is PlatformCheck.ONE_COPY
                            else "nothing (not due from any record read)",
                            came=self._came(one, again))

    def _came(self, written: Written, again: bool) -> str:
        """What came, in words a router's author can act on."""
        if again:
            return f"{written.match[0]} on {written.seen.topic} written again"
        recipient = written.match[4].removeprefix("FAIL:")
        home = self.topology.platform_of(recipient) if written.fail_reason is not None else None
        if home is not None:
            return (f"a transport FAIL {written.fail_reason} for {recipient}, whom the run's "
                    f"directory puts on {home} (was the router's directory made with the run's "
                    "--profile? `lgsp topology -p … --directory`)")
        return f"{written.match[0]} on {written.seen.topic}"

    def _split(self, due: Due, came: list[Written]) -> bool:
        """An LGSP's packet to VDXP sent as several packets for the same recipients."""
        wanted = set(due.to)
        parts = [w for w in came if w.seen.topic == due.topic and w.match[4] == due.match[4]
                 and set(w.routing.to) < wanted]
        if len(wanted) < 2 or not parts or {r for w in parts for r in w.routing.to} != wanted:
            return False
        self.failed(PlatformCheck.ONE_PACKET_PER_DESTINATION, due.document_id, due.match[3],
                    expected=f"1 packet to {due.topic}", came=f"{len(parts)} packets")
        for part in parts:
            came.remove(part)
        return True

    def _changed(self, due: Due, came: list[Written]) -> bool:
        """The right topic and recipients, other value bytes."""
        for one in came:
            if one.seen.topic == due.topic and one.match[3] == due.match[3]:
                came.remove(one)
                self.failed(PlatformCheck.RECORD_INTACT, due.document_id, due.match[3],
                            expected="the value bytes read", came="other value bytes")
                return True
        return False

    def _elsewhere(self, due: Due, came: list[Written]) -> bool:
        """The copy for the same recipients, on another topic (or for other recipients)."""
        for one in came:
            if one.match[4] == due.match[4] and set(one.routing.to) & set(due.to):
                came.remove(one)
                self.failed(PlatformCheck.RIGHT_DESTINATION, due.document_id, due.match[3],
                            expected=f"{due.topic} to {due.match[3]}",
                            came=f"{one.seen.topic} to {','.join(one.routing.to)}")
                return True
        return False


def _text(value: bytes | None) -> str:
    return "(none)" if value is None else value.decode(errors="replace")


def _texts(values: list[bytes | None] | None) -> str:
    return "(none)" if not values else ",".join(_text(v) for v in values)
