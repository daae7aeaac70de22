"""The delivery tracker: the per (document, recipient) status lifecycle, on the sender's clock.

The sender registers each (document, recipient) at its *intended* send time (open loop: latency
includes any lag of the schedule) — directly in its own process, or through the senders' ledger
when the tracker runs in a process of its own (``consumers.tracker_feed``). Statuses arriving
back at the sender move the lifecycle of domain.md §7 forward; a delivery with no 01 within
``ack_timeout_s`` is *lost*. Finished deliveries are folded into the run's aggregates and
forgotten, so memory holds only what is in flight.

A status that skips a step (04 right after 01) is followed, and the skipped step is remembered as
missing; if it comes later it is an out-of-order status. With fault injection (``--inject``) the
tracker joins the sender's ledger of injected faults with what came back: a fault is detected when
every delivery it concerns was detected (02 with a reason, transport FAIL, a broken lifecycle);
a detection on a document without a fault is a false positive.

When the run requires status seals (``check_seals``), every business status must carry a valid
seal of the recipient it is about (``lgsp.signing.status_seal``); any other is *forged*: counted
by reason, and it never moves a lifecycle — an external recipient's is graded
(``status_sealed`` fails) and its lifecycle still graded from what it sent, but the run's own
figures count only sealed statuses. The ``forged-status`` fault is detected here.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import structlog

from consumers.conformance import ConformanceGrader
from lgsp.bus.ledger import SentDocument
from lgsp.bus.routing import route_of
from lgsp.conformance import REFUSAL_REASONS, Check
from lgsp.domain.status import (
    ALLOWED_NEXT,
    REPEATABLE,
    StatusCode,
    StatusEvent,
    StatusLayer,
    TransportState,
)
from lgsp.domain.topology import Topology
from lgsp.errors import ConfigError
from lgsp.external import is_probe
from lgsp.faults import (
    EXPECTED,
    FORGED_REFUSED,
    MISSING_STATUS,
    OUT_OF_ORDER,
    RECIPIENT_FAULTS,
    REJECTED,
    TRANSPORT_FAIL,
    FaultKind,
)
from lgsp.log_limit import LogLimit
from lgsp.metrics import series
from lgsp.metrics.histogram import Histogram
from lgsp.metrics.run import Route, RouteOutcome, RunMetrics
from lgsp.metrics.series import SERIES_DIGITS
from lgsp.metrics.stages import Stage
from lgsp.metrics.state import from_state, to_state
from lgsp.recent_keys import RecentKeys

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Delivery:
    route: Route
    intended_ns: int
    last: StatusCode | None = None
    arrived_ns: int | None = None
    seen: set[StatusCode] = field(default_factory=set)
    issued_at: dict[StatusCode, dt.datetime] = field(default_factory=dict)
    """When the recipient issued each status: a repeat with the same time is the bus delivering
    it again (absorbed), another time means the recipient issued it twice."""
    missing: set[StatusCode] = field(default_factory=set)
    """Steps skipped by a later status that have not come since."""
    late: bool = False
    """A skipped step came after a later one (out of order)."""


NOT_SENT_BY_THIS_RUN = "not_sent_by_this_run"
"""A status about a document this run never sent (replayed or outside traffic)."""
FROM_UNEXPECTED_PARTY = "from_unexpected_party"
"""A business status reported by someone other than the recipient it is about."""
FORGED_REMEMBERED = 100_000
"""Forged statuses remembered to count one the bus delivers again only once."""
SealCheck = Callable[[StatusEvent], str | None]
"""None for a status sealed by its recipient, else why it is forged."""
SENT_REMEMBERED = 250_000
"""Documents remembered to tell a late status from one about a document never sent (at least
this many of the most recent, at most twice as many; a longer run counts the older ones' late
statuses as ``unknown_or_finished``)."""

STEP_RANK = {StatusCode.ARRIVED: 0, StatusCode.REGISTERED: 1, StatusCode.ASSIGNED: 2,
             StatusCode.IN_PROGRESS: 3, StatusCode.COMPLETED: 4}
"""The business lifecycle in order (05 is optional and repeats)."""
SKIPPABLE = (StatusCode.REGISTERED, StatusCode.ASSIGNED)
"""Steps a lifecycle must not skip."""


@dataclass(slots=True)
class InjectedFault:
    kind: FaultKind
    waiting: set[str]
    """Recipients whose detection is still awaited."""
    by: Counter[str] = field(default_factory=Counter)


class DeliveryTracker:
    """Joins sent documents with the statuses that come back."""

    def __init__(self, topology: Topology, metrics: RunMetrics, *, ack_timeout_s: float = 30.0,
                 clock: Callable[[], int] = time.monotonic_ns,
                 external: frozenset[str] = frozenset(),
                 routers_probed: bool = False) -> None:
        """``external``: recipients the user's own services play (``--external``): their
        deliveries are graded against the contract (``consumers.conformance``).
        ``routers_probed``: outside routers were probed (``--external platform=…``), so
        lgsp-sim's own recipients answer probes too; their statuses are not the run's."""
        self.routers_probed = routers_probed
        if ack_timeout_s <= 0:
            raise ConfigError("--ack-timeout must be > 0 seconds")
        self.topology = topology
        self.metrics = metrics
        self.ack_timeout_ns = int(ack_timeout_s * 1e9)
        self.clock = clock
        self._pending: dict[tuple[str, str], Delivery] = {}
        self._faults: dict[str, InjectedFault] = {}
        self._external_faults: dict[str, InjectedFault] = {}
        """Faults the system under test (``--external``) must refuse, by DocumentId."""
        self.live_arrived = Histogram(SERIES_DIGITS)
        """Send → 01 of the whole run so far, warm-up included: live progress and Prometheus."""
        self.grader = ConformanceGrader(external, metrics)
        self._sent = RecentKeys(SENT_REMEMBERED)
        """DocumentIds this tracker expected (at least the ``SENT_REMEMBERED`` most recent)."""
        self._memory_whole = True
        """Every document this tracker expected is in ``_sent``: a status about another one is
        about a document the run did not send. False once ``_sent`` dropped one or the tracker
        was restored from a checkpoint (then such a status is ambiguous)."""
        self._seals: SealCheck | None = None
        """Set when the run requires status seals (``check_seals``)."""
        self._forged_seen: OrderedDict[tuple[str, str, str, dt.datetime], None] = OrderedDict()
        """(DocumentId, recipient, status, issue time) of the forged statuses counted."""
        self._uncounted = RunMetrics()
        """Where an external recipient's forged statuses leave the run's figures they would
        have moved (never reported: they are graded, not counted)."""
        self._missing_logged = LogLimit()
        self._out_of_order_logged = LogLimit()
        self._foreign_logged = LogLimit()
        self._forged_logged = LogLimit()
        """Injected status faults make these common: one line a second each, with a count."""
        self._late_logged = LogLimit()
        """A run fallen behind gets a 01 too late for thousands of deliveries: likewise."""

    def check_seals(self, check: SealCheck) -> None:
        """The run requires status seals: from now on a business status counts only when
        ``check`` finds it sealed by its recipient (docs/contract.md §7a)."""
        self._seals = check

    @property
    def pending(self) -> int:
        return len(self._pending)

    def tracks(self, document_id: str, recipient: str) -> bool:
        """Whether this (document, recipient) is expected and not over yet."""
        return (document_id, recipient) in self._pending

    def expect(self, document: SentDocument, intended_ns: int) -> None:
        """Register every (document, recipient) of a document about to be sent."""
        self._sent.add(document.document_id)
        if self._sent.forgotten:
            self._memory_whole = False
        for recipient in document.recipients:
            route = route_of(self.topology, document.sender, recipient)
            self.metrics.record_outcome(route, RouteOutcome.SENT)
            self._pending[(document.document_id, recipient)] = Delivery(route, intended_ns)
            if self.grader.grades(recipient):
                self.grader.delivery(recipient)

    def injected(self, document: SentDocument, kind: FaultKind, waiting: Iterable[str]) -> None:
        """The sender gave ``document`` this fault; each of ``waiting`` must detect it. A
        duplicate is absorbed silently by each recipient: it is counted per delivery and judged
        against the recipients' ``duplicates_absorbed`` (``lgsp.metrics.fault_report``)."""
        grader = self.grader
        outside = [r for r in document.recipients if grader.grades(r)]
        if kind is FaultKind.DUPLICATE_DELIVERY:  # an external recipient must not answer again
            for recipient in outside:                # (graded as one status per step)
                grader.delivered_twice((document.document_id, recipient))
            self.metrics.record_fault_injected(
                kind.value, duplicate_deliveries=len(document.recipients) - len(outside))
            return
        awaited = set(waiting)
        graded = grader.external & awaited
        if graded and kind not in RECIPIENT_FAULTS:  # the system under test must refuse it:
            for recipient in graded:                 # graded apart from the simulator's checks
                grader.fault(recipient, kind.value, "injected")
            self._external_faults[document.document_id] = InjectedFault(kind, set(graded))
        awaited -= graded  # (an external service ignores the simulated recipients' fault)
        if not awaited:
            return
        self.metrics.record_fault_injected(kind.value)
        self._faults[document.document_id] = InjectedFault(kind, awaited)

    def detected_at_send(self, kind: FaultKind, how: str) -> None:
        """A fault the sender's own checks stopped before anything was sent."""
        self.metrics.record_fault_injected(kind.value)
        self.metrics.record_fault_detected(kind.value, how)

    def _detect(self, document_id: str, recipient: str, how: str) -> None:
        if self.grader.grades(recipient):
            self._grade_detection(document_id, recipient, how)
            return
        fault = self._faults.get(document_id)
        if fault is None or recipient not in fault.waiting:
            self.metrics.record_false_positive(how)
            log.warning("detection_without_fault", document_id=document_id, recipient=recipient,
                        how=how, injected=None if fault is None else fault.kind.value)
            return
        fault.waiting.discard(recipient)
        fault.by[how] += 1
        if not fault.waiting:
            del self._faults[document_id]
            self.metrics.record_fault_detected(fault.kind.value, " + ".join(sorted(fault.by)))

    def _grade_detection(self, document_id: str, recipient: str, how: str) -> None:
        """An external recipient refused (02 ``how``): right for an injected fault with that
        reason, a failure for another reason or a valid document."""
        fault = self._external_faults.get(document_id)
        if fault is None or recipient not in fault.waiting:
            if how.startswith(REJECTED):
                self.grader.failed(Check.NO_FALSE_REFUSAL, document_id, recipient,
                                   expected="03 (a valid document)", came=how)
            return
        fault.waiting.discard(recipient)
        if not fault.waiting:
            del self._external_faults[document_id]
        expected = EXPECTED[fault.kind]
        if how == expected:
            self.grader.fault(recipient, fault.kind.value, "refused_right")
        else:
            self.grader.fault(recipient, fault.kind.value, "refused_other")
            self.grader.failed(Check.FAULT_REFUSED, document_id, recipient,
                               expected=f"{expected} ({fault.kind.value})", came=how)

    def _lifecycle_ended(self, key: tuple[str, str], delivery: Delivery) -> None:
        """A lifecycle is over (06, or the end of the run): was it whole and in order?"""
        if self.grader.grades(key[1]):  # order was graded as statuses came; a step skipped
            self.grader.ended(key, dict(delivery.issued_at))  # is one that never came
            if delivery.missing:
                never = sorted(c.value for c in delivery.missing)
                self.grader.failed(Check.NO_SKIPPED_STEP, *key,
                                   expected=f"{', '.join(never)} before "
                                            f"{delivery.last.value if delivery.last else '06'}",
                                   came=f"never sent {', '.join(never)}")
            return
        if delivery.late:
            self._detect(*key, OUT_OF_ORDER)
        elif delivery.missing:
            self._detect(*key, MISSING_STATUS)

    def knows(self, document_id: str) -> bool:
        """Whether ``document_id`` is a document this tracker expected (or a readiness probe
        of the system under test): its statuses are the run's to count."""
        return document_id in self._sent or is_probe(document_id)

    def on_status(self, status: StatusEvent, now_ns: int) -> None:
        business = status.layer is StatusLayer.BUSINESS
        graded = business and self.grader.grades(status.recipient)
        if graded and is_probe(status.document_id):  # a readiness probe's answer
            self.metrics.record_external(status.recipient, "probe_statuses")
            return
        if self.routers_probed and is_probe(status.document_id):  # an outside router's probe,
            self.metrics.record_seen("probe_statuses")  # answered by lgsp-sim's recipient
            return
        if business and status.from_code != status.recipient:
            self.metrics.record_unexpected_status(FROM_UNEXPECTED_PARTY)
            self.metrics.record_foreign_status(FROM_UNEXPECTED_PARTY, _label(status))
            return  # a party answering for another never moves a lifecycle
        figures = self.metrics
        if business and self._seals is not None and self._forged(status, graded):
            if not graded:
                return  # a forged status never moves a lifecycle
            figures = self._uncounted  # graded from what it sent; the run counts sealed ones
        self._follow(status, now_ns, graded, figures)

    def _forged(self, status: StatusEvent, graded: bool) -> bool:
        """Whether a business status is forged (not sealed by its recipient): counted by reason
        once (the bus may deliver it again), failed as ``status_sealed`` for an external
        recipient, and otherwise a detection for the delivery it claims to be about (the
        ``forged-status`` fault's, or a false positive)."""
        check = self._seals
        if check is None:
            return False
        start = time.perf_counter_ns()
        reason = check(status)
        self.metrics.record_seal_check_cost(time.perf_counter_ns() - start)
        if reason is None:
            return False
        label = _label(status)
        identity = (status.document_id, status.recipient, label, status.timestamp)
        if identity in self._forged_seen:
            if not graded:
                self.metrics.record_unexpected_status("duplicate")
            return True
        self._forged_seen[identity] = None
        if len(self._forged_seen) > FORGED_REMEMBERED:
            self._forged_seen.popitem(last=False)
        key = (status.document_id, status.recipient)
        fault = self._faults.get(status.document_id)
        injected = (fault is not None and fault.kind is FaultKind.FORGED_STATUS
                    and status.recipient in fault.waiting)
        self.metrics.record_forged_status(reason, label, injected=injected)
        if graded:
            self.grader.failed(Check.STATUS_SEALED, *key,
                               expected=f"sealed by {status.recipient}",
                               came=f"{label} {reason}")
        elif key in self._pending:
            self._detect(*key, FORGED_REFUSED)
        if not injected and (left_out := self._forged_logged.allow()) is not None:
            log.warning("status_forged", document_id=status.document_id,
                        recipient=status.recipient, status=label, reason=reason,
                        suppressed=left_out)
        return True

    def _follow(self, status: StatusEvent, now_ns: int, graded: bool,
                figures: RunMetrics) -> None:
        """Move the lifecycle of the delivery ``status`` is about; ``figures``: the run's
        metrics, or (an external recipient's forged status) figures nobody reads."""
        key = (status.document_id, status.recipient)
        if graded:
            self.grader.status(status.recipient)
        delivery = self._pending.get(key)
        if delivery is None:
            if graded:
                self.grader.after_end(key, status.status_code, status.timestamp)
            if figures is self.metrics:
                self.unmatched(status)
            return
        route = delivery.route
        if status.layer is StatusLayer.TRANSPORT:
            if status.transport_state is TransportState.FAIL:
                figures.record_outcome(route, RouteOutcome.UNDELIVERABLE)
                figures.series.count(series.ERRORS, now_ns)
                figures.record_undeliverable(status.reason or "unknown")
                del self._pending[key]
                if graded:
                    self.grader.ended(key, dict(delivery.issued_at))
                self._detect(*key, TRANSPORT_FAIL + (status.reason or "unknown"))
            return
        code = status.status_code
        if code is None:
            figures.record_unexpected_status("business_without_code")
            return
        if delivery.arrived_ns is None and now_ns - delivery.intended_ns > self.ack_timeout_ns:
            # too late: lost, whether or not a sweep ran before (a rebuilding tracker does not
            # sweep until it has caught up)
            self._lose(key, now_ns)
            figures.record_unexpected_status("unknown_or_finished")
            if (left_out := self._late_logged.allow()) is not None:
                log.warning("deliveries_lost", count=1, first_document_id=key[0],
                            first_recipient=key[1], ack_timeout_s=self.ack_timeout_ns / 1e9,
                            suppressed=left_out)
            return
        if code in delivery.seen and code not in REPEATABLE:
            again = delivery.issued_at.get(code) == status.timestamp
            figures.record_unexpected_status("duplicate" if again else "reissued")
            if graded and not again:
                if code is StatusCode.ARRIVED:
                    self.grader.answered_again(key)
                self.grader.failed(Check.ONE_STATUS_PER_STEP, *key,
                                   expected=f"{code.value} once", came=f"{code.value} again")
            return
        if code not in ALLOWED_NEXT.get(delivery.last, frozenset()):
            if not self._skipped_to(delivery, code):
                if graded:
                    self._grade_order(key, delivery, code)
                figures.record_unexpected_status("out_of_order")
                if (left_out := self._out_of_order_logged.allow()) is not None:
                    log.warning("status_out_of_order", document_id=status.document_id,
                                recipient=status.recipient, previous=delivery.last, got=code,
                                suppressed=left_out)
                return
            figures.record_unexpected_status("missing_status")
            if (left_out := self._missing_logged.allow()) is not None:
                log.warning("status_missing", document_id=status.document_id,
                            recipient=status.recipient, previous=delivery.last, got=code,
                            suppressed=left_out)
        delivery.last = code
        delivery.seen.add(code)
        delivery.issued_at[code] = status.timestamp
        if code is StatusCode.ARRIVED:
            delivery.arrived_ns = now_ns
            figures.record_outcome(route, RouteOutcome.DELIVERED)
            figures.series.arrived(now_ns, now_ns - delivery.intended_ns)
            if figures.measured(delivery.intended_ns):  # live figures leave the warm-up
                figures.record_delivery_latency(  # out too
                    route, arrived_ns=now_ns - delivery.intended_ns)
                if figures is self.metrics:
                    self.live_arrived.record_ns(now_ns - delivery.intended_ns)
                if graded:
                    figures.stage(Stage.EXTERNAL_SEND_TO_ARRIVED).record_ns(
                        now_ns - delivery.intended_ns)
        elif code is StatusCode.REJECTED:
            figures.record_outcome(route, RouteOutcome.REJECTED)
            figures.series.count(series.ERRORS, now_ns)
            del self._pending[key]
            if graded:
                self.grader.ended(key, dict(delivery.issued_at))
                if status.reason not in REFUSAL_REASONS:
                    self.grader.failed(Check.KNOWN_REASON, *key,
                                       expected="a reason of docs/contract.md §5",
                                       came=f"02 {status.reason or '(none)'}")
            self._detect(*key, REJECTED + (status.reason or "no reason"))
        elif code is StatusCode.RECALL_ACCEPTED:
            figures.record_outcome(route, RouteOutcome.RECALLED)
            del self._pending[key]
            if graded:
                self.grader.ended(key, dict(delivery.issued_at))
        elif code is StatusCode.COMPLETED:
            figures.record_outcome(route, RouteOutcome.COMPLETED)
            figures.series.count(series.COMPLETED, now_ns)
            if figures.measured(delivery.intended_ns):
                figures.record_delivery_latency(
                    route, completed_ns=now_ns - delivery.intended_ns)
            del self._pending[key]
            self._lifecycle_ended(key, delivery)

    def _grade_order(self, key: tuple[str, str], delivery: Delivery, code: StatusCode) -> None:
        allowed = sorted(c.value for c in ALLOWED_NEXT.get(delivery.last, frozenset()))
        check = Check.FIRST_STATUS_01 if delivery.last is None else Check.LIFECYCLE_ORDER
        after = "first" if delivery.last is None else f"after {delivery.last.value}"
        self.grader.failed(check, *key, expected=f"{' or '.join(allowed) or 'nothing'} {after}",
                           came=code.value)

    def _skipped_to(self, delivery: Delivery, code: StatusCode) -> bool:
        """Whether ``code`` moves the lifecycle forward past missing steps (then it is followed
        and the steps are remembered as missing); a step that was missing and comes now is
        marked late. False: it does not fit the lifecycle at all."""
        last = delivery.last
        if last not in STEP_RANK or code not in STEP_RANK:
            return False
        if code in delivery.missing:  # the skipped step, late
            delivery.missing.discard(code)
            delivery.late = True
            return False
        if STEP_RANK[code] <= STEP_RANK[last]:
            return False
        delivery.missing.update(step for step in SKIPPABLE
                                if STEP_RANK[last] < STEP_RANK[step] < STEP_RANK[code])
        return True

    def send_failed(self, document: SentDocument, error: BaseException) -> None:
        """Our own producer could not hand the document to Kafka: not a loss on the bus."""
        for recipient in document.recipients:
            delivery = self._pending.pop((document.document_id, recipient), None)
            if delivery is not None:
                self.metrics.record_outcome(delivery.route, RouteOutcome.SEND_FAILED)
                self.metrics.series.count(series.ERRORS, self.clock())
        log.error("document_send_failed", document_id=document.document_id, error=repr(error))

    def sweep(self, now_ns: int | None = None) -> int:
        """Declare lost every delivery without 01 past the ack timeout; return how many."""
        now_ns = self.clock() if now_ns is None else now_ns
        expired = []
        # deliveries are registered in schedule order: stop at the first one still in time
        for key, delivery in self._pending.items():
            if now_ns - delivery.intended_ns <= self.ack_timeout_ns:
                break
            if delivery.arrived_ns is None:
                expired.append(key)
        for key in expired:
            self._lose(key, now_ns)
        if expired:  # one line per sweep, not one per delivery: an overload loses thousands
            log.warning("deliveries_lost", count=len(expired), first_document_id=expired[0][0],
                        first_recipient=expired[0][1],
                        ack_timeout_s=self.ack_timeout_ns / 1e9)
        return len(expired)


    def unmatched(self, status: StatusEvent) -> None:
        """A status for no delivery in flight: of one that ended (late, or the bus delivering
        it again), or — when the tracker can tell — of a document this run never sent."""
        if status.document_id in self._sent or not self._memory_whole:
            self.metrics.record_unexpected_status("unknown_or_finished")
            return
        self.metrics.record_unexpected_status(NOT_SENT_BY_THIS_RUN)
        self.metrics.record_foreign_status(NOT_SENT_BY_THIS_RUN, _label(status))
        if (left_out := self._foreign_logged.allow()) is not None:
            log.warning("status_for_a_document_not_sent", document_id=status.document_id,
                        recipient=status.recipient, status=_label(status),
                        suppressed=left_out)

    def _lose(self, key: tuple[str, str], now_ns: int) -> None:
        delivery = self._pending.pop(key)
        if self.grader.grades(key[1]):
            self._grade_unanswered(key, delivery)
        self.metrics.record_outcome(delivery.route, RouteOutcome.LOST)
        self.metrics.series.count(series.ERRORS, now_ns)
        log.debug("delivery_lost", document_id=key[0], recipient=key[1],
                  route=delivery.route.label, path=delivery.route.path)

    def _grade_unanswered(self, key: tuple[str, str], delivery: Delivery) -> None:
        self.grader.failed(Check.ANSWERED, *key,
                           expected=f"01 within {self.ack_timeout_ns / 1e9:g} s (--ack-timeout)",
                           came="nothing" if delivery.last is None
                           else f"{delivery.last.value} without 01")
        self.grader.ended(key, None)

    # ---- checkpoint (consumers.tracker_checkpoint) ---------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything this tracker knows, as JSON: the run's figures so far, the deliveries in
        flight and the faults still awaited."""
        return {"metrics": to_state(self.metrics),
                "live_arrived": self.live_arrived.encode(),
                "pending": [[key[0], key[1], _delivery_state(d)]
                            for key, d in self._pending.items()],
                "faults": [[document_id, f.kind.value, sorted(f.waiting), dict(f.by)]
                           for document_id, f in self._faults.items()],
                "external_faults": [[document_id, f.kind.value, sorted(f.waiting), dict(f.by)]
                                    for document_id, f in self._external_faults.items()]}

    def restore(self, state: dict[str, Any]) -> None:
        """Take over a checkpointed ``state`` (a restarted tracker). Everything is decoded
        before anything is replaced (a bad state changes nothing: ``ValueError``/``KeyError``);
        the run's measuring window and the series' origin stay as this process set them."""
        restored = from_state(state["metrics"])
        live_arrived = Histogram.decode(state["live_arrived"])
        pending = {(document_id, recipient): _delivery_from(raw)
                   for document_id, recipient, raw in state["pending"]}
        faults = {document_id: InjectedFault(FaultKind(kind), set(waiting), Counter(by))
                  for document_id, kind, waiting, by in state["faults"]}
        external_faults = {
            document_id: InjectedFault(FaultKind(kind), set(waiting), Counter(by))
            for document_id, kind, waiting, by in state.get("external_faults", [])}
        restored.series.start_ns = self.metrics.series.start_ns  # monotonic: this host's origin
        for f in fields(self.metrics):
            if not f.name.startswith("measure_from"):
                setattr(self.metrics, f.name, getattr(restored, f.name))
        self.live_arrived, self._pending, self._faults = live_arrived, pending, faults
        self._external_faults = external_faults
        self._memory_whole = False  # deliveries ended before the checkpoint are not known

    def finish(self) -> None:
        """End of run: no 01 → lost; 01 without a terminal status → incomplete."""
        now_ns = self.clock()
        lost = 0
        incomplete: list[tuple[str, str]] = []
        for key, delivery in self._pending.items():
            graded = self.grader.grades(key[1])
            if delivery.arrived_ns is None:
                self.metrics.record_outcome(delivery.route, RouteOutcome.LOST)
                lost += 1
                if graded:
                    self._grade_unanswered(key, delivery)
                self.metrics.series.count(series.ERRORS, now_ns)
                log.debug("delivery_lost", document_id=key[0], recipient=key[1])
            else:
                self.metrics.record_outcome(delivery.route, RouteOutcome.INCOMPLETE)
                incomplete.append(key)
                if graded:
                    self.grader.failed(Check.LIFECYCLE_ENDS, *key,
                                       expected="02, 06 or 15 before the run ended",
                                       came=f"{delivery.last.value if delivery.last else '-'} "
                                            "last")
                log.debug("delivery_incomplete", document_id=key[0], recipient=key[1],
                          last=delivery.last)
            self._lifecycle_ended(key, delivery)
        for fault in self._faults.values():
            self.metrics.record_fault_missed(fault.kind.value)
        self._faults.clear()
        for document_id, fault in self._external_faults.items():
            for recipient in fault.waiting:
                self.grader.fault(recipient, fault.kind.value, "missed")
                self.grader.failed(Check.FAULT_REFUSED, document_id, recipient,
                                   expected=f"{EXPECTED[fault.kind]} ({fault.kind.value})",
                                   came="not refused")
        self._external_faults.clear()
        if lost:
            log.warning("deliveries_lost", count=lost, at="end of run")
        if incomplete:
            log.warning("deliveries_incomplete", count=len(incomplete),
                        first_document_id=incomplete[0][0], first_recipient=incomplete[0][1])
        self._pending.clear()


def _label(status: StatusEvent) -> str:
    """``01``, ``02 unknown_certificate``, ``FAIL unknown_recipient``: how a foreign status is
    counted."""
    if status.layer is StatusLayer.TRANSPORT:
        state = status.transport_state.value if status.transport_state else "TRANSPORT"
        return f"{state} {status.reason}" if status.reason else state
    code = status.status_code.value if status.status_code else "no code"
    return f"{code} {status.reason}" if status.reason else code


def _delivery_state(d: Delivery) -> dict[str, Any]:
    return {"route": [d.route.sender_tier, d.route.recipient_tier, d.route.path],
            "intended_ns": d.intended_ns, "last": d.last.value if d.last else None,
            "arrived_ns": d.arrived_ns, "seen": sorted(c.value for c in d.seen),
            "issued_at": {c.value: t.isoformat() for c, t in d.issued_at.items()},
            "missing": sorted(c.value for c in d.missing), "late": d.late}


def _delivery_from(raw: dict[str, Any]) -> Delivery:
    return Delivery(Route(*raw["route"]), raw["intended_ns"],
                    StatusCode(raw["last"]) if raw["last"] else None, raw["arrived_ns"],
                    {StatusCode(c) for c in raw["seen"]},
                    {StatusCode(c): dt.datetime.fromisoformat(t)
                     for c, t in raw["issued_at"].items()},
                    {StatusCode(c) for c in raw["missing"]}, raw["late"])
