"""Grading an external recipient (``--external``): each broken rule fails exactly its check,
with the delivery as the example; a conforming lifecycle fails none."""

import dataclasses
import datetime as dt

import pytest

from consumers.tracker import DeliveryTracker
from lgsp.conformance import Check
from lgsp.domain import Document, Signer, StatusCode, StatusEvent
from lgsp.domain.status import StatusLayer
from lgsp.faults import FaultKind
from lgsp.metrics import RunMetrics
from lgsp.metrics.conformance_report import conformance_report
from lgsp.metrics.state import from_state, merge, to_state
from lgsp.profiles import load_topology
from lgsp.recent_keys import joined

SENDER = "000.00.00.H56"
OUTSIDE, INSIDE = "000.00.01.H56", "000.00.00.G22"
SECOND = 1_000_000_000
C = StatusCode


@pytest.fixture(scope="module")
def topo():
    return load_topology(["thanh-hoa"])


@pytest.fixture
def tracker(topo):
    clock = [0]
    t = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5, clock=lambda: clock[0],
                        external=frozenset({OUTSIDE}))
    t.expect(document("D1"), intended_ns=0)
    return t


def document(doc_id):
    return Document(document_id=doc_id, number=1, notation="1/UBND", type_name="công văn",
                    subject="s", sender=SENDER, recipients=(OUTSIDE, INSIDE),
                    promulgation_place="Thanh Hóa", promulgation_date=dt.date(2023, 1, 1),
                    signer=Signer("", "Chủ tịch", "A"))


_T0 = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)


def status(code, recipient=OUTSIDE, reason=None, doc_id="D1", at=0):
    return StatusEvent(layer=StatusLayer.BUSINESS, from_code=recipient, document_id=doc_id,
                       sender=SENDER, recipient=recipient,
                       timestamp=_T0 + dt.timedelta(seconds=at), status_code=code,
                       reason=reason)


def answer(t, *codes, recipient=OUTSIDE, reason=None, doc_id="D1"):
    for i, code in enumerate(codes):
        t.on_status(status(code, recipient, reason if code is C.REJECTED else None, doc_id,
                           at=i), SECOND)


def failed(t):
    """{check: failures} of the external party."""
    section = conformance_report(t.metrics)
    assert section is not None
    (party,) = section["parties"]
    return {c["check"]: c["failures"] for c in party["checks"] if c["failures"]}


def test_a_conforming_lifecycle_fails_no_check(tracker):
    answer(tracker, C.ARRIVED, C.REGISTERED, C.ASSIGNED, C.IN_PROGRESS, C.IN_PROGRESS,
           C.COMPLETED)
    tracker.finish()
    assert failed(tracker) == {}
    section = conformance_report(tracker.metrics)
    assert section["passed"]
    assert section["parties"][0]["deliveries"] == 1
    assert section["parties"][0]["statuses"] == 6


def test_only_external_deliveries_are_graded(tracker):
    answer(tracker, C.ARRIVED, C.ASSIGNED, C.REGISTERED, recipient=INSIDE)  # ours misbehaves
    answer(tracker, C.ARRIVED, C.REGISTERED, C.ASSIGNED, C.COMPLETED)
    tracker.finish()
    assert failed(tracker) == {}


def test_a_skipped_step_fails_no_skipped_step_with_the_example(tracker):
    answer(tracker, C.ARRIVED, C.REGISTERED, C.IN_PROGRESS, C.COMPLETED)
    assert failed(tracker) == {Check.NO_SKIPPED_STEP: 1}
    (example,) = conformance_report(tracker.metrics)["parties"][0]["checks"][3]["examples"]
    assert example == {"document_id": "D1", "recipient": OUTSIDE, "expected": "04 before 06",
                       "came": "never sent 04"}


def test_a_step_out_of_order_fails_lifecycle_order_only(tracker):
    answer(tracker, C.ARRIVED, C.ASSIGNED, C.REGISTERED, C.COMPLETED)
    tracker.finish()
    assert failed(tracker) == {Check.LIFECYCLE_ORDER: 1}


def test_a_first_status_other_than_01(tracker):
    answer(tracker, C.REGISTERED)
    assert failed(tracker) == {Check.FIRST_STATUS_01: 1}


def test_a_step_answered_twice_fails_one_status_per_step(tracker):
    answer(tracker, C.ARRIVED, C.REGISTERED)
    tracker.on_status(status(C.REGISTERED, at=9), SECOND)  # issued again
    tracker.on_status(status(C.REGISTERED, at=1), SECOND)  # the bus delivering it again
    assert failed(tracker) == {Check.ONE_STATUS_PER_STEP: 1}


def test_a_status_after_the_end(tracker):
    answer(tracker, C.ARRIVED, C.REGISTERED, C.ASSIGNED, C.COMPLETED)
    tracker.on_status(status(C.COMPLETED, at=3), SECOND)  # a bus duplicate: fine
    assert failed(tracker) == {}
    tracker.on_status(status(C.COMPLETED, at=30), SECOND)
    assert failed(tracker) == {Check.NOTHING_AFTER_END: 1}


def test_no_answer_within_the_ack_timeout_fails_answered_once(tracker):
    assert tracker.sweep(now_ns=6 * SECOND) == 2
    answer(tracker, C.ARRIVED, C.REGISTERED)  # late: already failed, not failed again
    tracker.finish()
    assert failed(tracker) == {Check.ANSWERED: 1}


def test_an_open_lifecycle_at_the_end_fails_lifecycle_ends(tracker):
    answer(tracker, C.ARRIVED, C.REGISTERED)
    tracker.finish()
    assert failed(tracker) == {Check.LIFECYCLE_ENDS: 1}


def test_a_refusal_needs_a_known_reason_and_a_fault(tracker):
    answer(tracker, C.ARRIVED, C.REJECTED, reason="i_do_not_like_it")
    assert failed(tracker) == {Check.KNOWN_REASON: 1, Check.NO_FALSE_REFUSAL: 1}


def test_faults_are_graded_by_their_reason(topo):
    t = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5, external=frozenset({OUTSIDE}))
    for doc_id in ("F1", "F2", "F3"):
        doc = document(doc_id)
        t.expect(doc, intended_ns=0)
        t.injected(doc, FaultKind.BAD_SIGNATURE, doc.recipients)
    answer(t, C.ARRIVED, C.REJECTED, reason="bad_signature", doc_id="F1")
    answer(t, C.ARRIVED, C.REJECTED, reason="tampered", doc_id="F2")
    answer(t, C.ARRIVED, C.REGISTERED, C.ASSIGNED, C.COMPLETED, doc_id="F3")  # accepted
    t.finish()
    assert failed(t) == {Check.FAULT_REFUSED: 2}
    row = conformance_report(t.metrics)["parties"][0]["faults"]["bad-signature"]
    assert row == {"injected": 3, "refused_right": 1, "refused_other": 1, "missed": 1,
                   "detection_share": 0.3333}


def test_simulated_recipients_misbehaviour_is_never_asked_of_an_external_one(topo):
    t = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5, external=frozenset({OUTSIDE}))
    doc = dataclasses.replace(document("F1"), recipients=(OUTSIDE,))
    t.expect(doc, intended_ns=0)
    t.injected(doc, FaultKind.DROPPED_STATUS, doc.recipients)
    answer(t, C.ARRIVED, C.REGISTERED, C.ASSIGNED, C.COMPLETED, doc_id="F1")
    t.finish()
    assert failed(t) == {}
    assert t.metrics.faults_injected == {}


def test_probe_statuses_are_left_out(tracker):
    tracker.on_status(status(C.ARRIVED, doc_id="000.00.00.H56,2026/12/04,1/KT-LGSPSIM"),
                      SECOND)
    assert tracker.metrics.unexpected_statuses == {}
    assert conformance_report(tracker.metrics)["parties"][0]["probe_statuses"] == 1


def test_failures_and_examples_merge_across_processes(topo):
    parts = []
    for _ in range(4):
        t = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5, external=frozenset({OUTSIDE}))
        t.expect(document("D1"), intended_ns=0)
        answer(t, C.REGISTERED)
        parts.append(from_state(to_state(t.metrics)))
    merged = merge(parts)
    assert merged.conformance_failures == {f"{OUTSIDE}|first_status_01": 4}
    assert len(merged.conformance_examples[f"{OUTSIDE}|first_status_01"]) == 4


async def test_a_restarted_recipient_never_resumes_an_external_agencys_lifecycle(topo):
    """After a crash, lgsp-sim's recipients carry on the lifecycles they had begun — never one
    the user's service answered (its statuses are on the same topic)."""
    from consumers.recipient import RecipientAgents
    from consumers.recovery import SentStatuses
    from lgsp.bus.topics import TopicNames

    agents = RecipientAgents("LGSP-H56", topology=topo, topics=TopicNames("r"), producer=None,
                             events=None, verifier=None, metrics=RunMetrics(), on_status=None,
                             external=frozenset({OUTSIDE}))
    begun = SentStatuses(sender=SENDER, topic="t", codes=[C.ARRIVED, C.REGISTERED])
    assert agents.resume({("D1", OUTSIDE): begun}) == 0
    assert joined("D1", OUTSIDE) not in agents._seen


def test_statuses_of_other_parties_after_the_end_are_not_charged_to_the_service(tracker):
    answer(tracker, C.ARRIVED, C.REGISTERED, C.ASSIGNED, C.COMPLETED)
    tracker.on_status(dataclasses.replace(status(C.COMPLETED, at=40), from_code=INSIDE),
                      SECOND)
    assert failed(tracker) == {}
    assert tracker.metrics.foreign_statuses == {"from_unexpected_party|06": 1}


def test_a_fault_the_service_accepts_is_not_the_simulators_miss(topo):
    t = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5, external=frozenset({OUTSIDE}))
    doc = dataclasses.replace(document("F1"), recipients=(OUTSIDE,))
    t.expect(doc, intended_ns=0)
    t.injected(doc, FaultKind.TAMPERED_CONTENT, doc.recipients)
    answer(t, C.ARRIVED, C.REGISTERED, C.ASSIGNED, C.COMPLETED, doc_id="F1")
    t.finish()
    assert failed(t) == {Check.FAULT_REFUSED: 1}
    assert t.metrics.faults_injected == {}  # the simulator's own detection figures stay clean
    assert t.metrics.faults_missed == {}


def test_probe_lookalikes_without_external_parties_are_foreign(topo):
    t = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5)
    t.on_status(status(C.ARRIVED, doc_id="000.00.00.H56,2026/12/04,1/KT-LGSPSIM"), SECOND)
    assert t.metrics.external == {}
    assert t.metrics.foreign_statuses == {"not_sent_by_this_run|01": 1}


def test_an_outside_routers_probe_answered_by_lgsp_sim_is_not_foreign(topo):
    """--external platform=…: lgsp-sim's own recipient answers the router's probe; its statuses
    come back to the tracker and are counted as probe statuses, not as foreign ones."""
    t = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5, routers_probed=True)
    t.on_status(status(C.ARRIVED, doc_id="000.00.00.H56,2026/12/04,1/KT-LGSPSIM"), SECOND)
    assert t.metrics.foreign_statuses == {}
    assert t.metrics.seen == {"probe_statuses": 1}


async def test_a_malformed_status_from_the_service_is_dead_lettered_and_graded(topo):
    """The record goes on to the dead-letter topic (the loop does that with the Rejected it
    raises) and the service fails status_decodes, with the reason."""
    from aiokafka import ConsumerRecord

    from consumers.recipient import RecipientAgents
    from lgsp.bus import headers
    from lgsp.bus.topics import TopicNames
    from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry
    from lgsp.errors import DecodeError

    metrics = RunMetrics()
    agents = RecipientAgents("LGSP-H56", topology=topo, topics=TopicNames("r"), producer=None,
                             events=EventCodec(AvroCodec(FileSchemaRegistry())), verifier=None,
                             metrics=metrics, on_status=lambda *_: None,
                             external=frozenset({OUTSIDE}))
    record = ConsumerRecord(topic="lgsp.r.lgsp-h56.deliver", partition=0, offset=7, timestamp=0,
                            timestamp_type=0, key=SENDER.encode(), value=b"\x00garbage",
                            checksum=None, serialized_key_size=0, serialized_value_size=0,
                            headers=headers.build(headers.STATUS, "D1", OUTSIDE, (SENDER,)))
    with pytest.raises(DecodeError):
        await agents.handle(record, [])
    assert metrics.conformance_failures == {f"{OUTSIDE}|status_decodes": 1}
    (example,) = metrics.conformance_examples[f"{OUTSIDE}|status_decodes"]
    assert example[:3] == ["D1", OUTSIDE, "a StatusEvent"]


def test_a_rule_broken_by_several_statuses_counts_once_per_delivery(tracker):
    answer(tracker, C.ARRIVED, C.REGISTERED)
    for at in (7, 8):
        tracker.on_status(status(C.ARRIVED, at=at), SECOND)
        tracker.on_status(status(C.REGISTERED, at=at + 10), SECOND)
    assert failed(tracker) == {Check.ONE_STATUS_PER_STEP: 1}


@pytest.mark.parametrize("answers_again", [False, True])
def test_a_redelivery_is_absorbed_or_answered_again(topo, answers_again):
    t = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5, external=frozenset({OUTSIDE}))
    doc = dataclasses.replace(document("F1"), recipients=(OUTSIDE,))
    t.expect(doc, intended_ns=0)
    t.injected(doc, FaultKind.DUPLICATE_DELIVERY, doc.recipients)
    answer(t, C.ARRIVED, C.REGISTERED, C.ASSIGNED, C.COMPLETED, doc_id="F1")
    if answers_again:  # the redelivered copy answered after the lifecycle ended
        t.on_status(status(C.ARRIVED, doc_id="F1", at=50), SECOND)
    t.finish()
    row = conformance_report(t.metrics)["parties"][0]["faults"]["duplicate-delivery"]
    assert (row["injected"], row["missed"], row["detection_share"]) == (
        (1, 1, 0.0) if answers_again else (1, 0, 1.0))
    assert failed(t) == ({Check.NOTHING_AFTER_END: 1} if answers_again else {})
