"""Bad input on the real broker: broken signatures, undecodable bytes, duplicates, unknown
recipients — each gets its counted outcome and the bus keeps going."""

import dataclasses
import datetime as dt
import time

import pytest
from aiokafka import AIOKafkaConsumer

from lgsp.bus import headers
from lgsp.codec import SignedDocument
from lgsp.domain import Secrecy
from lgsp.errors import DocumentRefused
from lgsp.signing import SignatureRole, content_digest, sign
from producers.sender import vietnam_today
from tests.conftest import wait_for
from tests.e2e.helpers import simulation

pytestmark = pytest.mark.e2e

PROVINCE = "000.00.00.H56"
DEPT = "000.00.01.H56"
DISTRICT = "000.00.31.H56"
GOV_OFFICE = "000.00.00.G22"


@pytest.fixture
async def sim(kafka_bootstrap, pki_cache, run_id):
    s = simulation(kafka_bootstrap, pki_cache, run_id, profiles=("thanh-hoa",))
    base = s.traffic.draft()
    await s.start([dataclasses.replace(base, sender=code) for code in (PROVINCE, DEPT, DISTRICT)])
    yield s
    await s.stop()


def _draft(sim, sender=PROVINCE, recipients=(DEPT, DISTRICT, GOV_OFFICE)):
    return dataclasses.replace(sim.traffic.draft(), sender=sender, recipients=recipients,
                               sign_personal=True, sign_agency=True)


async def _send(sim, draft, mutate=lambda s, d: s):
    document = sim.sender.compose(draft, vietnam_today())
    signed = mutate(sim.sender.sign(document, draft), document)
    await (await sim.sender.send(document, signed, time.monotonic_ns()))
    return document


def _flip_agency(signed, _doc):
    sig = signed.agency_signature
    return dataclasses.replace(signed, agency_signature=dataclasses.replace(
        sig, value=bytes([sig.value[0] ^ 0xFF]) + sig.value[1:]))


def _alter_content(signed, _doc):
    return dataclasses.replace(signed, content=signed.content[:-1] + b"\x02")


def _signed_by_district(sim):
    def mutate(signed: SignedDocument, _doc):
        seal, = [sim.sender.credentials(DISTRICT)[1]]
        block = sign(seal, signed.content_digest, dt.datetime.now(dt.UTC))
        assert block.role is SignatureRole.AGENCY
        return dataclasses.replace(signed, agency_signature=block)
    return mutate


class TestSignatureFailures:
    @pytest.mark.parametrize(("name", "reason"), [
        pytest.param("flip", "bad_signature", id="bad-signature"),
        pytest.param("alter", "tampered", id="tampered-content"),
        pytest.param("district", "signer_not_sender", id="commune-signs-as-province"),
    ])
    async def test_broken_document_is_returned_with_02_and_the_reason(self, sim, name, reason):
        """Every recipient answers 01 then 02 with the reason; the sender counts rejections."""
        mutate = {"flip": _flip_agency, "alter": _alter_content,
                  "district": _signed_by_district(sim)}[name]
        document = await _send(sim, _draft(sim), mutate)
        await wait_for(lambda: sim.tracker.pending == 0, what="02 statuses back at the sender")
        n = len(document.recipients)
        assert sim.metrics.rejections == {reason: n}
        assert sum(s.rejected for s in sim.metrics.routes.values()) == n
        assert sum(s.delivered for s in sim.metrics.routes.values()) == n
        assert sim.metrics.signing.failures == {reason: n}


class TestRefusals:
    async def test_secret_document_from_a_noncompliant_sender_is_returned(self, sim):
        """A secret document that slipped past its sender is refused by every recipient (02)."""
        draft = _draft(sim)
        document = dataclasses.replace(sim.sender.compose(draft, vietnam_today()),
                                       secrecy=Secrecy.SECRET)
        await (await sim.sender.send(document, sim.sender.sign(document, draft),
                                     time.monotonic_ns()))
        await wait_for(lambda: sim.tracker.pending == 0, what="02 secret_document")
        assert sim.metrics.rejections == {"secret_document": len(document.recipients)}

    async def test_content_that_does_not_decode_is_returned_and_kept(self, sim):
        """Signed bytes that are not a document: 02 schema_invalid to the sender, and the
        record is kept whole in the dead-letter topic."""
        draft = _draft(sim, recipients=(DEPT, DISTRICT))
        document = sim.sender.compose(draft, vietnam_today())
        schema_id = sim.events.document_schema.id
        garbage = b"\x99 not a document"
        signed = SignedDocument(schema_id, garbage, content_digest(garbage, schema_id), None, None)
        await (await sim.sender.send(document, signed, time.monotonic_ns()))
        await wait_for(lambda: sim.tracker.pending == 0, what="02 schema_invalid")
        assert sim.metrics.rejections == {"schema_invalid": 2}
        assert sim.metrics.dead_letters == {"schema_invalid": 2}


class TestUndecodable:
    async def test_garbage_goes_to_dead_letter_and_the_consumer_keeps_going(self, sim,
                                                                            kafka_bootstrap):
        """Undecodable bytes → dead-letter record with the reason; the next document completes."""
        topic = sim.topics.deliver("LGSP-H56")
        garbage = b"\xde\xad\xbe\xef not avro"
        routing = headers.build(headers.DOCUMENT, "000.00.00.H56,2023/01/01,1/UBND", PROVINCE,
                                (DEPT,))
        await (await sim.producer.send(topic, value=garbage, key=DEPT.encode(), headers=routing))
        await wait_for(lambda: sim.metrics.dead_letters["undecodable"] == 1, what="dead letter")

        consumer = AIOKafkaConsumer(sim.topics.dead_letter, bootstrap_servers=kafka_bootstrap,
                                    auto_offset_reset="earliest", fetch_max_wait_ms=10)
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=10_000, max_records=1)
            records = [r for rs in batch.values() for r in rs]
        finally:
            await consumer.stop()
        assert len(records) == 1
        letter = sim.events.decode_dead_letter(records[0].value)
        assert letter["reason"] == "undecodable"
        assert letter["value"] == garbage
        assert letter["source_topic"] == topic
        assert letter["stage"] == "recipient:LGSP-H56"

        await _send(sim, _draft(sim, recipients=(DEPT,)))
        await wait_for(lambda: sim.tracker.pending == 0, what="the next document to complete")
        assert sum(s.completed for s in sim.metrics.routes.values()) == 1

    async def test_record_without_routing_headers_is_dead_lettered_by_the_router(self, sim):
        await (await sim.producer.send(sim.topics.inbound("LGSP-H56"), value=b"x"))
        await wait_for(lambda: sim.metrics.dead_letters["missing_routing_headers"] == 1,
                       what="router dead letter")


class TestDuplicatesAndUnknowns:
    async def test_duplicated_delivery_is_absorbed(self, sim):
        """The same document submitted again reaches the recipient once: one lifecycle."""
        draft = _draft(sim, recipients=(DEPT,))
        document = sim.sender.compose(draft, vietnam_today())
        signed = sim.sender.sign(document, draft)
        await (await sim.sender.send(document, signed, time.monotonic_ns()))
        env = sim.sender.envelope(document, signed)
        await (await sim.producer.send(env.topic, value=env.value, key=env.key,
                                       headers=env.headers))
        stats = lambda: sum(s.duplicates_absorbed for s in sim.metrics.routes.values())  # noqa: E731
        await wait_for(lambda: stats() == 1 and sim.tracker.pending == 0, what="absorbed dup")
        assert sum(s.completed for s in sim.metrics.routes.values()) == 1
        assert sim.metrics.unexpected_statuses == {}

    async def test_unknown_recipient_gets_transport_fail_back_to_the_sender(self, sim):
        """An unknown code is failed by VDXP; the known recipient is still served."""
        await _send(sim, _draft(sim, recipients=(DEPT, "000.00.00.H99")))
        await wait_for(lambda: sim.tracker.pending == 0, what="FAIL and 06 back at the sender")
        assert sim.metrics.undeliverable_reasons == {"unknown_recipient": 1}
        assert sum(s.undeliverable for s in sim.metrics.routes.values()) == 1
        assert sum(s.completed for s in sim.metrics.routes.values()) == 1

    async def test_secret_document_is_refused_before_sending(self, sim):
        draft = dataclasses.replace(_draft(sim), secrecy=Secrecy.TOP_SECRET)
        with pytest.raises(DocumentRefused, match="must never be sent"):
            sim.sender.compose(draft, vietnam_today())
        assert sim.tracker.pending == 0
        assert sim.metrics.refused_at_send == {"secret_document": 1}


async def test_unanswered_delivery_is_lost_after_the_ack_timeout(kafka_bootstrap, pki_cache,
                                                                 run_id):
    """A lenient LGSP delivers to an unknown code of its province; no agent answers, so the
    record is dead-lettered there and the sender declares the delivery lost at the timeout."""
    sim = simulation(kafka_bootstrap, pki_cache, run_id, profiles=("thanh-hoa",),
                     lenient_lgsp=True, ack_timeout_s=2.0, settle_timeout_s=5.0)
    await sim.start([dataclasses.replace(sim.traffic.draft(), sender=PROVINCE)])
    try:
        await _send(sim, _draft(sim, recipients=(DEPT, "000.99.31.H56")))
        await sim.settle()
    finally:
        await sim.stop()
    assert sum(s.lost for s in sim.metrics.routes.values()) == 1
    assert sum(s.completed for s in sim.metrics.routes.values()) == 1
    assert sim.metrics.dead_letters == {"unknown_recipient": 1}
