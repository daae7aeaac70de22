"""The delivery tracker's lifecycle rules (domain.md §7), on a controlled clock."""

import dataclasses
import datetime as dt
import json

import pytest
from structlog.testing import capture_logs

from consumers.tracker import DeliveryTracker
from lgsp.domain import (
    Document,
    Signer,
    StatusCode,
    StatusEvent,
    TransportState,
)
from lgsp.domain.status import StatusLayer
from lgsp.faults import FaultKind
from lgsp.metrics import RunMetrics
from lgsp.metrics.state import to_state
from lgsp.profiles import load_topology

SENDER = "000.00.00.H56"
R1, R2 = "000.00.01.H56", "000.00.00.G22"
SECOND = 1_000_000_000


@pytest.fixture(scope="module")
def topo():
    return load_topology(["thanh-hoa"])


@pytest.fixture
def tracker(topo):
    t = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5)
    t.expect(Document(document_id="D1", number=1, notation="1/UBND", type_name="công văn",
                      subject="s", sender=SENDER, recipients=(R1, R2),
                      promulgation_place="Thanh Hóa", promulgation_date=dt.date(2023, 1, 1),
                      signer=Signer("", "Chủ tịch", "A")), intended_ns=0)
    return t


def status(code, recipient=R1, reason=None):
    return StatusEvent(layer=StatusLayer.BUSINESS, from_code=recipient, document_id="D1",
                       sender=SENDER, recipient=recipient, timestamp=dt.datetime.now(dt.UTC),
                       status_code=code, reason=reason)


def totals(t):
    out = {"delivered": 0, "completed": 0, "rejected": 0, "lost": 0, "undeliverable": 0,
           "incomplete": 0}
    for stats in t.metrics.routes.values():
        for k in out:
            out[k] += getattr(stats, k)
    return out


class TestLifecycle:
    def test_happy_path_completes_with_repeated_in_progress(self, tracker):
        """01 → 03 → 04 → 05 → 05 → 06 completes; 05 may repeat."""
        for i, code in enumerate(["01", "03", "04", "05", "05", "06"]):
            tracker.on_status(status(StatusCode(code)), (i + 1) * SECOND)
        assert totals(tracker)["completed"] == 1
        assert tracker.metrics.unexpected_statuses == {}
        assert tracker.pending == 1  # R2 still open

    def test_duplicate_status_is_dropped_and_counted(self, tracker):
        """The bus delivering the same status twice (a router redelivery) is absorbed."""
        arrived = status(StatusCode.ARRIVED)
        tracker.on_status(arrived, SECOND)
        tracker.on_status(arrived, 2 * SECOND)
        assert totals(tracker)["delivered"] == 1
        assert tracker.metrics.unexpected_statuses == {"duplicate": 1}

    def test_redelivered_earlier_status_is_a_duplicate(self, tracker):
        """01, 03, then 01 again: the repeat is a duplicate, not an out-of-order status."""
        arrived = status(StatusCode.ARRIVED)
        for s in (arrived, status(StatusCode.REGISTERED), arrived):
            tracker.on_status(s, SECOND)
        assert tracker.metrics.unexpected_statuses == {"duplicate": 1}

    def test_a_status_issued_twice_by_the_recipient_is_reissued(self, tracker):
        """Same code, another issue time: the recipient processed the document twice."""
        tracker.on_status(status(StatusCode.ARRIVED), SECOND)
        tracker.on_status(dataclasses.replace(status(StatusCode.ARRIVED),
                                              timestamp=dt.datetime(2030, 1, 1, tzinfo=dt.UTC)),
                          2 * SECOND)
        assert totals(tracker)["delivered"] == 1
        assert tracker.metrics.unexpected_statuses == {"reissued": 1}

    def test_send_failure_is_not_a_loss_on_the_bus(self, tracker):
        """If our producer fails, the deliveries count as send_failed, never lost."""
        doc = Document(document_id="D1", number=1, notation="1/UBND", type_name="công văn",
                       subject="s", sender=SENDER, recipients=(R1, R2),
                       promulgation_place="Thanh Hóa", promulgation_date=dt.date(2023, 1, 1),
                       signer=Signer("", "Chủ tịch", "A"))
        tracker.send_failed(doc, RuntimeError("broker gone"))
        tracker.finish()
        assert sum(s.send_failed for s in tracker.metrics.routes.values()) == 2
        assert totals(tracker)["lost"] == 0

    def test_status_out_of_order_is_counted_not_applied(self, tracker):
        tracker.on_status(status(StatusCode.REGISTERED), SECOND)
        assert tracker.metrics.unexpected_statuses == {"out_of_order": 1}
        assert totals(tracker)["delivered"] == 0

    def test_rejection_ends_the_delivery(self, tracker):
        tracker.on_status(status(StatusCode.ARRIVED), SECOND)
        tracker.on_status(status(StatusCode.REJECTED, reason="bad_signature"), SECOND)
        assert totals(tracker)["rejected"] == 1
        assert tracker.pending == 1

    def test_transport_fail_is_undeliverable(self, tracker):
        tracker.on_status(StatusEvent(
            layer=StatusLayer.TRANSPORT, from_code="VDXP", document_id="D1", sender=SENDER,
            recipient=R2, timestamp=dt.datetime.now(dt.UTC),
            transport_state=TransportState.FAIL, reason="unknown_recipient"), SECOND)
        assert totals(tracker)["undeliverable"] == 1
        assert tracker.metrics.undeliverable_reasons == {"unknown_recipient": 1}

    def test_no_01_within_the_timeout_is_lost(self, tracker):
        """Only deliveries without 01 are lost at the timeout; an arrived one is not."""
        tracker.on_status(status(StatusCode.ARRIVED), SECOND)
        assert tracker.sweep(4 * SECOND) == 0
        assert tracker.sweep(6 * SECOND) == 1
        assert totals(tracker)["lost"] == 1
        tracker.finish()
        assert totals(tracker)["incomplete"] == 1
        assert tracker.pending == 0

    def test_a_01_past_the_timeout_is_lost_even_before_a_sweep(self, tracker):
        """A rebuilding tracker does not sweep until it caught up: a 01 that came too late is
        still a loss (as a live tracker's sweep would have said), and the 01 is unexpected."""
        tracker.on_status(status(StatusCode.ARRIVED), 6 * SECOND)
        assert totals(tracker)["lost"] == 1
        assert totals(tracker)["delivered"] == 0
        assert tracker.metrics.unexpected_statuses == {"unknown_or_finished": 1}
        assert not tracker.tracks("D1", R1)
        assert tracker.tracks("D1", R2)

    def test_thousands_of_late_01s_are_all_lost_but_logged_once_a_second(self, topo):
        """A run fallen behind: every late 01 is a loss, and the log gets one line (with a
        count of the rest), not one per delivery (4,998 lines in a 30-minute soak)."""
        t = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5)
        recipients = (R1, R2)
        for n in range(500):
            t.expect(Document(document_id=f"D{n}", number=n + 1, notation=f"{n + 1}/UBND",
                              type_name="công văn", subject="s", sender=SENDER,
                              recipients=recipients, promulgation_place="Thanh Hóa",
                              promulgation_date=dt.date(2023, 1, 1),
                              signer=Signer("", "Chủ tịch", "A")), intended_ns=0)
        with capture_logs() as logs:
            for n in range(500):
                for recipient in recipients:
                    t.on_status(dataclasses.replace(status(StatusCode.ARRIVED, recipient),
                                                    document_id=f"D{n}"), 6 * SECOND)
        assert totals(t)["lost"] == 1000
        assert t.metrics.unexpected_statuses == {"unknown_or_finished": 1000}
        lines = [entry for entry in logs if entry["event"] == "deliveries_lost"]
        assert 1 <= len(lines) < 10  # one a second: the loop takes far less than 10 s

    def test_latency_is_measured_from_the_intended_time(self, tracker):
        tracker.on_status(status(StatusCode.ARRIVED), 3 * SECOND)
        route_stats = next(s for s in tracker.metrics.routes.values() if s.delivered)
        assert route_stats.send_to_arrived.percentile_us(50) == pytest.approx(3_000_000, rel=0.01)

    def test_02_without_reason_cannot_be_built(self):
        with pytest.raises(ValueError, match="reason"):
            status(StatusCode.REJECTED)


def _codes(tracker, codes, recipient=R1):
    for i, code in enumerate(codes):
        tracker.on_status(status(StatusCode(code), recipient), (i + 1) * SECOND)


class TestBrokenLifecycles:
    def test_a_skipped_step_is_followed_and_counted_missing(self, tracker):
        """01 → 04 → 06: 03 never came; the delivery still completes, with the gap counted."""
        _codes(tracker, ["01", "04", "06"])
        assert totals(tracker)["completed"] == 1
        assert tracker.metrics.unexpected_statuses == {"missing_status": 1}
        assert tracker.metrics.false_positives == {"missing status": 1}  # no fault injected

    def test_a_step_arriving_after_a_later_one_is_out_of_order(self, tracker):
        _codes(tracker, ["01", "04", "03", "05", "06"])
        assert totals(tracker)["completed"] == 1
        assert tracker.metrics.unexpected_statuses == {"missing_status": 1, "out_of_order": 1}
        assert tracker.metrics.false_positives == {"out-of-order status": 1}

    def test_a_step_issued_again_is_not_a_broken_lifecycle(self, tracker):
        _codes(tracker, ["01", "03", "04", "03", "06"])
        assert totals(tracker)["completed"] == 1
        assert tracker.metrics.unexpected_statuses == {"reissued": 1}
        assert tracker.metrics.false_positives == {}


class TestInjectedFaults:
    def _document(self, _tracker):
        return self.document()

    @staticmethod
    def document():
        return Document(document_id="D1", number=1, notation="1/UBND", type_name="công văn",
                        subject="s", sender=SENDER, recipients=(R1, R2),
                        promulgation_place="Thanh Hóa", promulgation_date=dt.date(2023, 1, 1),
                        signer=Signer("", "Chủ tịch", "A"))

    def test_detected_once_every_recipient_detected_it(self, tracker):
        tracker.injected(self._document(tracker), FaultKind.BAD_SIGNATURE, (R1, R2))
        _codes(tracker, ["01"], R1)
        tracker.on_status(status(StatusCode.REJECTED, R1, reason="bad_signature"), 2 * SECOND)
        assert tracker.metrics.faults_detected == {}  # R2 has not said anything yet
        _codes(tracker, ["01"], R2)
        tracker.on_status(status(StatusCode.REJECTED, R2, reason="bad_signature"), 3 * SECOND)
        assert tracker.metrics.faults_detected == {"bad-signature|02 bad_signature": 1}
        tracker.finish()
        assert tracker.metrics.faults_missed == {}
        assert tracker.metrics.false_positives == {}

    def test_a_recipient_that_accepts_it_makes_it_missed(self, tracker):
        tracker.injected(self._document(tracker), FaultKind.BAD_SIGNATURE, (R1, R2))
        tracker.on_status(status(StatusCode.ARRIVED, R1), SECOND)
        tracker.on_status(status(StatusCode.REJECTED, R1, reason="bad_signature"), 2 * SECOND)
        _codes(tracker, ["01", "03", "04", "06"], R2)  # R2 let it through
        tracker.finish()
        assert tracker.metrics.faults_detected == {}
        assert tracker.metrics.faults_missed == {"bad-signature": 1}
        assert tracker.metrics.faults_injected == {"bad-signature": 1}

    def test_a_rejection_of_a_clean_document_is_a_false_positive(self, tracker):
        tracker.on_status(status(StatusCode.ARRIVED, R1), SECOND)
        tracker.on_status(status(StatusCode.REJECTED, R1, reason="expired"), 2 * SECOND)
        assert tracker.metrics.false_positives == {"02 expired": 1}

    def test_a_duplicate_is_counted_per_delivery_and_never_missed(self, tracker):
        """Recipients absorb it silently: no status to wait for, judged on their absorption."""
        tracker.injected(self._document(tracker), FaultKind.DUPLICATE_DELIVERY, (R1, R2))
        tracker.finish()
        assert tracker.metrics.faults_injected == {"duplicate-delivery": 1}
        assert tracker.metrics.duplicate_deliveries_injected == 2
        assert tracker.metrics.faults_missed == {}


class TestCheckpointedState:
    """A restarted tracker process takes over a checkpointed state: from there on it must judge
    every status exactly as the tracker that saved it would have."""

    def _mid_run(self, topo):
        t = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5)
        document = TestInjectedFaults().document()
        t.expect(document, intended_ns=0)
        t.injected(document, FaultKind.DROPPED_STATUS, (R1, R2))
        _codes(t, ["01", "04"], R1)  # 03 skipped: remembered as missing
        t.on_status(self.r2_arrived, SECOND)
        t.on_status(status(StatusCode.ASSIGNED, R2), 2 * SECOND)  # 03 skipped by R2 too
        return t

    r2_arrived = status(StatusCode.ARRIVED, R2)

    def test_a_restored_tracker_ends_the_run_as_the_original_would(self, topo):
        original = self._mid_run(topo)
        restored = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5)
        restored.restore(json.loads(json.dumps(original.state())))  # through the file format
        assert restored.pending == original.pending == 2
        for tracker in (original, restored):
            _codes(tracker, ["05", "06"], R1)
            # the bus carries R2's 01 again: the same issue time, so a duplicate (not reissued)
            tracker.on_status(self.r2_arrived, 3 * SECOND)
            _codes(tracker, ["06"], R2)
            tracker.finish()
        assert to_state(restored.metrics) == to_state(original.metrics)
        # detected only if both lifecycles remembered their missing 03 across the checkpoint
        assert restored.metrics.faults_detected == {"dropped-status|missing status": 1}
        assert restored.metrics.faults_missed == {}
        assert restored.metrics.unexpected_statuses == {"missing_status": 2, "duplicate": 1}
        assert totals(restored) == {"delivered": 2, "completed": 2, "rejected": 0, "lost": 0,
                                    "undeliverable": 0, "incomplete": 0}
        assert restored.live_arrived.count == 2

    def test_the_restarted_process_keeps_its_measuring_window_and_series_origin(self, topo):
        """Monotonic time: the series' origin and the warm-up end are the restarted process's
        (set from the schedule start before it restores), not the saved ones."""
        original = self._mid_run(topo)
        restored = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5)
        restored.metrics.series.restart(7 * SECOND)
        restored.metrics.measure_from_ns = 123
        restored.restore(original.state())
        assert restored.metrics.measure_from_ns == 123
        assert restored.metrics.series.start_ns == 7 * SECOND
        assert restored.metrics.series.to_state() == original.metrics.series.to_state()

    def test_a_broken_state_changes_nothing(self, topo):
        original = self._mid_run(topo)
        state = original.state()
        state["pending"][-1][2]["last"] = "99"  # not a status code
        restored = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5)
        with pytest.raises(ValueError, match="99"):
            restored.restore(state)
        assert restored.pending == 0
        assert restored.metrics.routes == {}


class TestStatusesTheRunCannotAttribute:
    """Every status is counted: one about a document the run never sent, or reported by a party
    other than its recipient, is a foreign status (it fails the run's verdict)."""

    def test_a_status_for_a_document_never_sent(self, tracker):
        tracker.on_status(dataclasses.replace(status(StatusCode.REJECTED, reason="x"),
                                              document_id="D9", reason="unknown_certificate"),
                          SECOND)
        assert tracker.metrics.unexpected_statuses == {"not_sent_by_this_run": 1}
        assert tracker.metrics.foreign_statuses == {
            "not_sent_by_this_run|02 unknown_certificate": 1}

    def test_a_late_status_of_an_ended_delivery_is_not_foreign(self, tracker):
        for code in (StatusCode.ARRIVED, StatusCode.REJECTED):
            tracker.on_status(status(code, reason="tampered"), SECOND)
        tracker.on_status(status(StatusCode.REJECTED, reason="tampered"), SECOND)
        assert tracker.metrics.unexpected_statuses == {"unknown_or_finished": 1}
        assert tracker.metrics.foreign_statuses == {}

    def test_after_a_restore_an_unknown_document_is_ambiguous(self, tracker, topo):
        restored = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5)
        restored.restore(json.loads(json.dumps(tracker.state())))
        restored.on_status(dataclasses.replace(status(StatusCode.ARRIVED), document_id="D9"),
                           SECOND)
        assert restored.metrics.unexpected_statuses == {"unknown_or_finished": 1}
        assert restored.metrics.foreign_statuses == {}

    def test_a_status_from_another_party_never_moves_the_lifecycle(self, tracker):
        tracker.on_status(dataclasses.replace(status(StatusCode.ARRIVED), from_code=R2),
                          SECOND)
        assert totals(tracker)["delivered"] == 0
        assert tracker.metrics.foreign_statuses == {"from_unexpected_party|01": 1}
        tracker.on_status(status(StatusCode.ARRIVED), SECOND)
        assert totals(tracker)["delivered"] == 1
