"""The tracker in a run that requires status seals (docs/contract.md §7a), with real seals: a
status not sealed by its recipient is forged — counted by reason, never moving a lifecycle; the
forged-status fault is detected by it; an external recipient that does not seal fails
``status_sealed`` and no other check."""

from __future__ import annotations

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
from lgsp.metrics.state import from_state, to_state
from lgsp.profiles import load_topology
from lgsp.signing import Pki, SignatureAlgorithm, SignatureVerifier, StatusSealCheck
from lgsp.signing.status_seal import seal

SENDER = "000.00.00.H56"
R1, R2 = "000.00.01.H56", "000.00.00.G22"
SECOND = 1_000_000_000
C = StatusCode
T0 = dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def topo():
    return load_topology(["thanh-hoa"])


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(SignatureAlgorithm.ED25519, cache_dir=tmp_path_factory.mktemp("keys"))


DOCUMENT = Document(document_id="D1", number=1, notation="1/UBND", type_name="công văn",
                    subject="s", sender=SENDER, recipients=(R1, R2),
                    promulgation_place="Thanh Hóa", promulgation_date=dt.date(2026, 12, 4),
                    signer=Signer("", "Chủ tịch", "A"))


def _tracker(topo, pki, *, external: frozenset[str] = frozenset()) -> DeliveryTracker:
    t = DeliveryTracker(topo, RunMetrics(), ack_timeout_s=5, clock=lambda: 0,
                        external=external)
    t.check_seals(StatusSealCheck(SignatureVerifier(pki.directory)))
    t.expect(DOCUMENT, intended_ns=0)
    return t


def _status(code, recipient=R1, at=0, reason=None) -> StatusEvent:
    return StatusEvent(layer=StatusLayer.BUSINESS, from_code=recipient, document_id="D1",
                       sender=SENDER, recipient=recipient,
                       timestamp=T0 + dt.timedelta(seconds=at), status_code=code, reason=reason)


def _sealed(pki, status: StatusEvent, by: str | None = None) -> StatusEvent:
    code = by or status.recipient
    credential = pki.agency_seal(code, f"agency {code}")
    return dataclasses.replace(status, seal=seal(credential, status, dt.datetime.now(dt.UTC)))


def _answer(t, pki, recipient=R1, codes=(C.ARRIVED, C.REGISTERED, C.ASSIGNED, C.COMPLETED),
            *, sealed=True) -> None:
    for i, code in enumerate(codes):
        status = _status(code, recipient, at=i)
        t.on_status(_sealed(pki, status) if sealed else status, (i + 1) * SECOND)


def _totals(t) -> dict[str, int]:
    return {k: sum(getattr(s, k) for s in t.metrics.routes.values())
            for k in ("delivered", "completed", "lost", "incomplete")}


class TestForged:
    def test_sealed_statuses_move_the_lifecycle(self, topo, pki):
        t = _tracker(topo, pki)
        _answer(t, pki)
        assert _totals(t) == {"delivered": 1, "completed": 1, "lost": 0, "incomplete": 0}
        assert t.metrics.forged_statuses == {}
        assert t.metrics.stage("seal_check").count == 4

    def test_a_forged_06_never_completes_a_delivery_and_is_counted(self, topo, pki):
        """06 sealed by the sender (another agency) before the recipient even answered: counted
        as sealed_by_other, the delivery still waits for its 01; then the genuine lifecycle
        completes it as if the forged one never came."""
        t = _tracker(topo, pki)
        t.on_status(_sealed(pki, _status(C.COMPLETED), by=SENDER), SECOND)
        assert t.metrics.forged_statuses == {"sealed_by_other|06": 1}
        assert _totals(t)["completed"] == 0
        assert t.tracks("D1", R1)
        _answer(t, pki)
        assert _totals(t) == {"delivered": 1, "completed": 1, "lost": 0, "incomplete": 0}
        assert t.metrics.unexpected_statuses == {}
        assert t.metrics.false_positives == {"forged status refused": 1}  # no fault injected

    def test_unsealed_statuses_are_forged_and_the_delivery_is_lost(self, topo, pki):
        """A recipient that does not seal has not answered, as far as the run can tell."""
        t = _tracker(topo, pki)
        _answer(t, pki, sealed=False)
        assert t.metrics.forged_statuses == {"unsealed|01": 1, "unsealed|03": 1,
                                             "unsealed|04": 1, "unsealed|06": 1}
        assert t.sweep(10 * SECOND) == 2
        assert _totals(t) == {"delivered": 0, "completed": 0, "lost": 2, "incomplete": 0}

    def test_the_bus_delivering_a_forged_status_again_counts_it_once(self, topo, pki):
        t = _tracker(topo, pki)
        forged = _sealed(pki, _status(C.COMPLETED), by=SENDER)
        t.on_status(forged, SECOND)
        t.on_status(forged, 2 * SECOND)
        assert t.metrics.forged_statuses == {"sealed_by_other|06": 1}
        assert t.metrics.unexpected_statuses == {"duplicate": 1}

    def test_forged_counts_survive_a_checkpoint(self, topo, pki):
        t = _tracker(topo, pki)
        t.on_status(_status(C.ARRIVED), SECOND)
        restored = from_state(to_state(t.metrics))
        assert restored.forged_statuses == {"unsealed|01": 1}

    def test_transport_states_are_not_sealed(self, topo, pki):
        """A platform's FAIL carries no seal and is not forged."""
        from lgsp.domain import TransportState

        t = _tracker(topo, pki)
        fail = StatusEvent(layer=StatusLayer.TRANSPORT, from_code="LGSP-H56", document_id="D1",
                           sender=SENDER, recipient=R1, timestamp=T0,
                           transport_state=TransportState.FAIL, reason="unknown_recipient")
        t.on_status(fail, SECOND)
        assert t.metrics.forged_statuses == {}
        assert t.metrics.undeliverable_reasons == {"unknown_recipient": 1}


class TestForgedStatusFault:
    def test_each_recipients_forged_status_detects_the_fault(self, topo, pki):
        """The fault's forged 06 from each recipient is counted as injected; once both came,
        the document's fault is detected as expected, with no false positive."""
        t = _tracker(topo, pki)
        t.injected(DOCUMENT, FaultKind.FORGED_STATUS, (R1, R2))
        for i, recipient in enumerate((R1, R2)):
            t.on_status(_sealed(pki, _status(C.COMPLETED, recipient), by=SENDER),
                        (i + 1) * SECOND)
            _answer(t, pki, recipient)
        assert t.metrics.faults_injected == {"forged-status": 1}
        assert t.metrics.faults_detected == {"forged-status|forged status refused": 1}
        assert t.metrics.false_positives == {}
        assert t.metrics.forged_statuses == {"sealed_by_other|06": 2}
        assert t.metrics.forged_statuses_injected == 2
        assert _totals(t) == {"delivered": 2, "completed": 2, "lost": 0, "incomplete": 0}


class TestExternalRecipient:
    """An external recipient that does not seal fails status_sealed, and only that: its
    lifecycle is graded from what it sent; the run's figures count only sealed statuses."""

    def _failed(self, t) -> dict[str, int]:
        section = conformance_report(t.metrics)
        assert section is not None
        (party,) = section["parties"]
        return {c["check"]: c["failures"] for c in party["checks"] if c["failures"]}

    def test_an_unsealing_service_fails_status_sealed_only(self, topo, pki):
        t = _tracker(topo, pki, external=frozenset({R1}))
        _answer(t, pki, R1, sealed=False)
        _answer(t, pki, R2)  # lgsp-sim's own recipient, sealed
        t.finish()
        assert self._failed(t) == {Check.STATUS_SEALED.value: 1}
        example = t.metrics.conformance_examples[f"{R1}|status_sealed"][0]
        assert example == ["D1", R1, f"sealed by {R1}", "01 unsealed"]
        # R1's lifecycle ended (graded), but only R2's sealed one is in the run's figures
        assert _totals(t) == {"delivered": 1, "completed": 1, "lost": 0, "incomplete": 0}
        assert t.metrics.forged_statuses == {"unsealed|01": 1, "unsealed|03": 1,
                                             "unsealed|04": 1, "unsealed|06": 1}

    def test_a_service_sealing_with_another_agencys_key_fails_status_sealed(self, topo, pki):
        t = _tracker(topo, pki, external=frozenset({R1}))
        for i, code in enumerate((C.ARRIVED, C.REGISTERED, C.ASSIGNED, C.COMPLETED)):
            t.on_status(_sealed(pki, _status(code, R1, at=i), by=SENDER), SECOND)
        assert self._failed(t) == {Check.STATUS_SEALED.value: 1}
        assert t.metrics.forged_statuses == {f"sealed_by_other|{c}": 1
                                             for c in ("01", "03", "04", "06")}

    def test_a_sealing_service_passes(self, topo, pki):
        t = _tracker(topo, pki, external=frozenset({R1}))
        _answer(t, pki, R1)
        t.finish()
        assert self._failed(t) == {}
        assert _totals(t)["completed"] == 1
        assert t.metrics.forged_statuses == {}

    @pytest.mark.parametrize("sealed", [True, False])
    def test_status_sealed_is_listed_only_when_the_run_requires_seals(self, topo, pki, sealed):
        t = _tracker(topo, pki, external=frozenset({R1}))
        _answer(t, pki, R1)
        section = conformance_report(t.metrics, sealed=sealed)
        assert section is not None
        checks = {c["check"] for c in section["parties"][0]["checks"]}
        assert (Check.STATUS_SEALED.value in checks) is sealed
