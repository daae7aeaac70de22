"""Grading the user's own services (``--external``): what each must do, and where it did not.

The delivery tracker follows every delivery's lifecycle; for a delivery to an external recipient
it also tells the grader each rule the recipient broke, with the delivery as an example
(DocumentId, recipient, what was expected, what came). The grader counts failures per party and
check into the run's metrics (so they merge across processes and hosts exactly), keeps the first
examples of each, the deliveries and statuses graded, and each injected fault kind's outcome at
that party. ``lgsp.metrics.conformance_report`` turns them into the report's "System under test".
"""

from __future__ import annotations

from collections import OrderedDict

from lgsp.conformance import MAX_EXAMPLES, Check
from lgsp.domain.status import StatusCode
from lgsp.metrics.run import RunMetrics

DUPLICATE_DELIVERY = "duplicate-delivery"
ENDED_REMEMBERED = 100_000
"""Ended external deliveries remembered to tell a status after the end from a bus duplicate."""


def malformed_status(metrics: RunMetrics, party: str, document_id: str, reason: str) -> None:
    """A status record from ``party`` (its ``lgsp-from``) that does not decode: a failure of
    ``status_decodes`` (the record itself goes on to the dead-letter topic)."""
    metrics.record_conformance_failure(party, Check.STATUS_DECODES.value,
                                       [document_id, party, "a StatusEvent", reason], MAX_EXAMPLES)


class ConformanceGrader:
    """Counts what external recipients did against the contract, into ``metrics``."""

    def __init__(self, external: frozenset[str], metrics: RunMetrics) -> None:
        self.external = external
        self.metrics = metrics
        self._failed: set[tuple[str, str, str]] = set()
        """(check, DocumentId, recipient) already counted."""
        self._duplicated: set[tuple[str, str]] = set()
        """External deliveries the ``duplicate-delivery`` fault delivered twice, not yet seen
        answered again."""
        self._ended: OrderedDict[tuple[str, str], dict[StatusCode, object] | None] = \
            OrderedDict()
        """(DocumentId, recipient) of ended external deliveries → the issue time of each
        status seen (a repeat with the same time is the bus delivering it again); None for a
        delivery already failed as unanswered (its late statuses are not failed again)."""

    def grades(self, recipient: str) -> bool:
        return recipient in self.external

    def delivery(self, recipient: str) -> None:
        """A document was sent to ``recipient`` (an external one)."""
        self.metrics.record_external(recipient, "deliveries")

    def status(self, recipient: str) -> None:
        self.metrics.record_external(recipient, "statuses")

    def failed(self, check: Check, document_id: str, recipient: str, *, expected: str,
               came: str) -> None:
        """``check`` failed for the delivery (``document_id``, ``recipient``): counted once per
        delivery and check, however many statuses broke it."""
        once = (check.value, document_id, recipient)
        if once in self._failed:
            return
        self._failed.add(once)
        self.metrics.record_conformance_failure(
            recipient, check.value, [document_id, recipient, expected, came], MAX_EXAMPLES)

    def fault(self, recipient: str, kind: str, outcome: str) -> None:
        """An injected fault at ``recipient``: ``injected``, ``refused_right`` (02 with the
        expected reason) or ``refused_other`` (02, another reason)."""
        self.metrics.record_external(recipient, f"fault|{kind}|{outcome}")

    def delivered_twice(self, key: tuple[str, str]) -> None:
        """The ``duplicate-delivery`` fault delivers (DocumentId, recipient) twice: absorbing
        it is right, a 01 for it again is the fault's ``missed``."""
        self.fault(key[1], DUPLICATE_DELIVERY, "injected")
        self._duplicated.add(key)

    def answered_again(self, key: tuple[str, str]) -> None:
        """A 01 came again for ``key``: a redelivery answered, if the fault delivered it twice."""
        if key in self._duplicated:
            self._duplicated.discard(key)
            self.fault(key[1], DUPLICATE_DELIVERY, "missed")

    def ended(self, key: tuple[str, str], issued_at: dict[StatusCode, object] | None) -> None:
        """The lifecycle of an external delivery is over (``issued_at`` None: it was failed as
        unanswered)."""
        self._ended[key] = None if issued_at is None else dict(issued_at)
        while len(self._ended) > ENDED_REMEMBERED:
            self._ended.popitem(last=False)

    def after_end(self, key: tuple[str, str], code: StatusCode | None, issued: object) -> bool:
        """A status for an ended external delivery: a failure unless it repeats one already
        seen (the bus delivering it again). False: the delivery is not remembered as ended."""
        if key not in self._ended:
            return False
        if code is StatusCode.ARRIVED:
            self.answered_again(key)
        seen = self._ended[key]
        if seen is None or (code is not None and seen.get(code) == issued):
            return True
        self.failed(Check.NOTHING_AFTER_END, *key, expected="nothing after the lifecycle ended",
                    came=code.value if code is not None else "a transport status")
        return True
