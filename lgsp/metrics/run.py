"""The counters and histograms of one run: signing, routing per route, delivery outcomes.

Components get the one ``RunMetrics`` of the run and record facts as they happen; the report is
derived from it at the end. Route labels are ``<sender tier>-><recipient tier>`` with the path
``local`` (same platform) or ``via_vdxp``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from lgsp.metrics.histogram import Histogram
from lgsp.metrics.series import IntervalSeries
from lgsp.metrics.stages import Stage

LOCAL = "local"
VIA_VDXP = "via_vdxp"


@dataclass(frozen=True, slots=True, order=True)
class Route:
    sender_tier: str
    recipient_tier: str
    path: str
    """``local`` or ``via_vdxp``."""

    @property
    def label(self) -> str:
        return f"{self.sender_tier}->{self.recipient_tier}"


class RouteOutcome(StrEnum):
    """What happened to a delivery, counted per route (the ``RouteStats`` field of each)."""

    SENT = "sent"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    REJECTED = "rejected"
    UNDELIVERABLE = "undeliverable"
    LOST = "lost"
    INCOMPLETE = "incomplete"
    DUPLICATES_ABSORBED = "duplicates_absorbed"
    RECALLED = "recalled"
    SEND_FAILED = "send_failed"


@dataclass(slots=True)
class RouteStats:
    sent: int = 0
    """Deliveries expected: one per (document, recipient)."""
    delivered: int = 0
    """01 arrived back at the sender."""
    completed: int = 0
    """06 arrived back at the sender."""
    rejected: int = 0
    """02 arrived back at the sender."""
    undeliverable: int = 0
    """A platform answered transport FAIL."""
    lost: int = 0
    """No 01 within the ack timeout."""
    incomplete: int = 0
    """01 arrived but no terminal status by the end of the run."""
    duplicates_absorbed: int = 0
    """Repeated deliveries the recipient recognised and ignored."""
    recalled: int = 0
    """15 (recall accepted) arrived back at the sender."""
    send_failed: int = 0
    """Our own producer failed to hand the document to Kafka (not a loss on the bus)."""
    hops: Counter[int] = field(default_factory=Counter)
    send_to_arrived: Histogram = field(default_factory=Histogram)
    send_to_completed: Histogram = field(default_factory=Histogram)


@dataclass(slots=True)
class SigningStats:
    documents: int = 0
    personal_signed: int = 0
    agency_signed: int = 0
    both_signed: int = 0
    verified_documents: int = 0
    """Documents whose verification ran at a recipient (one per delivery)."""
    personal_valid: int = 0
    agency_valid: int = 0
    legally_valid: int = 0
    """Both signatures present and valid."""
    failures: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class RunMetrics:
    routes: dict[Route, RouteStats] = field(default_factory=dict)
    signing: SigningStats = field(default_factory=SigningStats)
    signing_by_tier: dict[str, SigningStats] = field(default_factory=dict)
    sign_cost: Histogram = field(default_factory=Histogram)
    verify_cost: Histogram = field(default_factory=Histogram)
    documents_by_tier: Counter[str] = field(default_factory=Counter)
    fan_out: Counter[int] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    undeliverable_reasons: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    platform_counts: dict[str, Counter[str]] = field(default_factory=dict)
    unexpected_statuses: Counter[str] = field(default_factory=Counter)
    send_errors: Counter[str] = field(default_factory=Counter)
    refused_at_send: Counter[str] = field(default_factory=Counter)
    content_versions: Counter[int] = field(default_factory=Counter)
    """Document content decoded at recipients, by the writer's schema version."""
    faults_injected: Counter[str] = field(default_factory=Counter)
    """Documents given each fault kind (``--inject``)."""
    faults_detected: Counter[str] = field(default_factory=Counter)
    """``<kind>|<how>``: injected documents every addressed check detected, and how."""
    faults_missed: Counter[str] = field(default_factory=Counter)
    """Injected documents some check let through, by kind."""
    duplicate_deliveries_injected: int = 0
    """Deliveries submitted twice by the ``duplicate-delivery`` fault (absorbed per recipient)."""
    false_positives: Counter[str] = field(default_factory=Counter)
    """Detections (same vocabulary) on deliveries of documents without an injected fault."""
    foreign_statuses: Counter[str] = field(default_factory=Counter)
    """``<kind>|<status>`` (``not_sent_by_this_run|02 unknown_certificate``,
    ``from_unexpected_party|06``): statuses the run cannot attribute to its own deliveries."""
    forged_statuses: Counter[str] = field(default_factory=Counter)
    """``<reason>|<status>`` (``sealed_by_other|06``, ``unsealed|01``): business statuses not
    sealed by the recipient they are about (``--status-seals``); none moved a lifecycle."""
    forged_statuses_injected: int = 0
    """Of ``forged_statuses``, those the ``forged-status`` fault sent on purpose (each matched
    to its injected document and recipient)."""
    external: Counter[str] = field(default_factory=Counter)
    """``<party>|deliveries``, ``<party>|statuses``, ``<party>|fault|<kind>|<outcome>``: what
    the user's own services (``--external``) were sent and did."""
    conformance_failures: Counter[str] = field(default_factory=Counter)
    """``<party>|<check>``: rules of the contract an external party broke
    (``consumers.conformance.Check``)."""
    conformance_examples: dict[str, list[list[str]]] = field(default_factory=dict)
    """``<party>|<check>`` → the first failures: [DocumentId, recipient, expected, came]."""
    seen: Counter[str] = field(default_factory=Counter)
    """A bus-only run's view of traffic it did not send (``lgsp.run.bus_only``): ``documents``,
    ``deliveries``, ``submitted_again``, ``timed_by|<source>``, ``statuses|<code>``."""
    schedule_lag: Histogram = field(default_factory=Histogram)
    """Actual submit time behind the intended (open-loop) time."""
    stages: dict[str, Histogram] = field(default_factory=dict)
    """Latency of each stage a document passes (``produce_ack``, ``hop.*``), warm-up excluded."""
    series: IntervalSeries = field(default_factory=IntervalSeries)
    measure_from_ns: int = 0
    """Monotonic time: documents intended before it are warm-up, left out of latency figures."""
    measure_from_wall_us: int = 0
    """The same instant on the wall clock (hop latencies are measured on record timestamps)."""

    def measured(self, intended_ns: int) -> bool:
        """Whether a document intended at ``intended_ns`` counts in the latency figures."""
        return intended_ns >= self.measure_from_ns

    def stage(self, name: str) -> Histogram:
        histogram = self.stages.get(name)
        if histogram is None:
            histogram = self.stages[name] = Histogram()
        return histogram

    def route(self, route: Route) -> RouteStats:
        stats = self.routes.get(route)
        if stats is None:
            stats = self.routes[route] = RouteStats()
        return stats

    def tier_signing(self, tier: str) -> SigningStats:
        stats = self.signing_by_tier.get(tier)
        if stats is None:
            stats = self.signing_by_tier[tier] = SigningStats()
        return stats

    # ---- recorders: every component changes the run's figures through these ---------------
    def record_outcome(self, route: Route, outcome: RouteOutcome, count: int = 1) -> None:
        """A delivery on ``route`` came to ``outcome`` (or was sent, absorbed as a duplicate)."""
        stats = self.route(route)
        setattr(stats, outcome.value, getattr(stats, outcome.value) + count)

    def record_delivery_latency(self, route: Route, *, arrived_ns: int | None = None,
                                completed_ns: int | None = None) -> None:
        """Intended send time → status 01 (``arrived_ns``) or 06 (``completed_ns``) back."""
        stats = self.route(route)
        if arrived_ns is not None:
            stats.send_to_arrived.record_ns(arrived_ns)
        if completed_ns is not None:
            stats.send_to_completed.record_ns(completed_ns)

    def record_hops(self, route: Route, hops: int) -> None:
        """A document reached its recipient after ``hops`` platform hops."""
        self.route(route).hops[hops] += 1

    def record_signed(self, tier: str, *, personal: bool, agency: bool) -> None:
        """A sender of ``tier`` signed a document (with which signatures)."""
        for stats in (self.signing, self.tier_signing(tier)):
            stats.documents += 1
            stats.personal_signed += personal
            stats.agency_signed += agency
            stats.both_signed += personal and agency

    def record_verified(self, tier: str, *, personal_ok: bool, agency_ok: bool,
                        failure: str | None) -> None:
        """A recipient verified a document of a sender of ``tier``; ``failure``: the reason
        of the first check that failed."""
        for stats in (self.signing, self.tier_signing(tier)):
            stats.verified_documents += 1
            stats.personal_valid += personal_ok
            stats.agency_valid += agency_ok
            stats.legally_valid += personal_ok and agency_ok
            if failure is not None:
                stats.failures[failure] += 1

    def record_document(self, tier: str, recipients: int) -> None:
        """A document handed to the bus by a sender of ``tier``, for ``recipients``."""
        self.documents_by_tier[tier] += 1
        self.fan_out[recipients] += 1

    def record_seen(self, what: str, count: int = 1) -> None:
        """A bus-only run saw ``what`` (a submitted document, its deliveries, a status)."""
        self.seen[what] += count

    def record_sign_cost(self, ns: int) -> None:
        self.sign_cost.record_ns(ns)

    def record_verify_cost(self, ns: int) -> None:
        self.verify_cost.record_ns(ns)

    def record_refused_at_send(self, reason: str) -> None:
        """A document the sender refused before the bus (e.g. ``secret_document``)."""
        self.refused_at_send[reason] += 1

    def record_send_errors(self, kind: str, count: int = 1) -> None:
        """Records our own producer failed to hand to Kafka (``produce_failed``...)."""
        self.send_errors[kind] += count

    def record_dead_letter(self, reason: str) -> None:
        self.dead_letters[reason] += 1

    def record_rejection(self, reason: str) -> None:
        """A recipient answered 02 with ``reason``."""
        self.rejections[reason] += 1

    def record_content_version(self, version: int) -> None:
        """Document content decoded at a recipient, written with this schema version."""
        self.content_versions[version] += 1

    def record_undeliverable(self, reason: str) -> None:
        self.undeliverable_reasons[reason] += 1

    def record_unexpected_status(self, kind: str, count: int = 1) -> None:
        """A status that moved no lifecycle: ``duplicate``, ``reissued``, ``out_of_order``,
        ``unknown_or_finished``, ``missing_status``, ``business_without_code``."""
        self.unexpected_statuses[kind] += count

    def record_fault_injected(self, kind: str, *, duplicate_deliveries: int = 0) -> None:
        self.faults_injected[kind] += 1
        self.duplicate_deliveries_injected += duplicate_deliveries

    def record_fault_detected(self, kind: str, how: str) -> None:
        """Every addressed check detected an injected ``kind``; ``how`` names the checks."""
        self.faults_detected[f"{kind}|{how}"] += 1

    def record_fault_missed(self, kind: str) -> None:
        self.faults_missed[kind] += 1

    def record_foreign_status(self, kind: str, label: str) -> None:
        self.foreign_statuses[f"{kind}|{label}"] += 1

    def record_forged_status(self, reason: str, label: str, *, injected: bool) -> None:
        """A business status whose seal is not its recipient's (``reason``); ``injected``: one
        the ``forged-status`` fault sent."""
        self.forged_statuses[f"{reason}|{label}"] += 1
        self.forged_statuses_injected += injected

    def record_seal_check_cost(self, ns: int) -> None:
        """The tracker checked one business status's seal (CPU time)."""
        self.stage(Stage.SEAL_CHECK).record_ns(ns)

    def record_external(self, party: str, what: str, count: int = 1) -> None:
        self.external[f"{party}|{what}"] += count

    def record_conformance_failure(self, party: str, check: str, example: list[str],
                                   max_examples: int) -> None:
        key = f"{party}|{check}"
        self.conformance_failures[key] += 1
        examples = self.conformance_examples.setdefault(key, [])
        if len(examples) < max_examples:
            examples.append(example)

    def record_false_positive(self, how: str) -> None:
        """A detection on a delivery of a document without an injected fault."""
        self.false_positives[how] += 1

    def platform(self, platform: str) -> Counter[str]:
        counter = self.platform_counts.get(platform)
        if counter is None:
            counter = self.platform_counts[platform] = Counter()
        return counter
