"""A restarted recipient keeps the statuses it still has to send in their document's trace."""

from __future__ import annotations

import datetime as dt

from consumers.recovery import statuses_sent
from lgsp.bus import headers
from lgsp.bus.admin import create_topics, delete_topics
from lgsp.bus.producer import TrackingProducer
from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry
from lgsp.config import BrokerConfig
from lgsp.domain.status import StatusCode, StatusEvent, StatusLayer

SENDER, RECIPIENT, DOC = "000.00.00.H56", "000.00.00.H26", "000.00.00.H56,2026/12/04,1/QĐ"
PARENTS = [b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
           b"00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"]


async def test_the_last_status_sent_is_the_parent_of_a_resumed_lifecycle(kafka_bootstrap,
                                                                         run_id):
    """Statuses 01 and 03 read back with their traceparent: the resume carries the later one;
    statuses written without one (an untraced run) give none."""
    broker = BrokerConfig(bootstrap=kafka_bootstrap, partitions=1)
    events = EventCodec(AvroCodec(FileSchemaRegistry()))
    traced, plain = f"{run_id}.traced", f"{run_id}.plain"
    await create_topics(broker, [traced, plain])
    producer = TrackingProducer.for_broker(broker)
    await producer.start()
    try:
        for topic, contexts in ((traced, PARENTS), (plain, [None, None])):
            for code, context in zip((StatusCode.ARRIVED, StatusCode.REGISTERED), contexts,
                                     strict=True):
                status = StatusEvent(layer=StatusLayer.BUSINESS, from_code=RECIPIENT,
                                     document_id=DOC, sender=SENDER, recipient=RECIPIENT,
                                     timestamp=dt.datetime.now(dt.UTC), status_code=code)
                await producer.send_and_wait(
                    topic, value=events.encode_status(status), key=SENDER.encode(),
                    headers=headers.build(headers.STATUS, DOC, RECIPIENT, (SENDER,),
                                          context=context and headers.TraceContext(context)))
        found = await statuses_sent(broker, [traced], events, lambda code: code == RECIPIENT)
        again = await statuses_sent(broker, [plain], events, lambda code: code == RECIPIENT)
    finally:
        await producer.stop()
        await delete_topics(broker, [traced, plain])
    sent = found[(DOC, RECIPIENT)]
    assert sent.codes == [StatusCode.ARRIVED, StatusCode.REGISTERED]
    assert sent.trace == headers.TraceContext(PARENTS[1])
    assert again[(DOC, RECIPIENT)].trace is None


async def test_a_forged_06_does_not_end_a_resumed_lifecycle(kafka_bootstrap, run_id, tmp_path):
    """With status seals, the forged-status fault's 06 (sealed by the sender) is on the
    recipient's topic before its 01: read back with the run's seal check, it is left out, so a
    restarted recipient resumes the lifecycle after 01 instead of taking it as finished."""
    import dataclasses

    from lgsp.signing import Pki, SignatureAlgorithm, SignatureVerifier, StatusSealCheck
    from lgsp.signing.status_seal import seal

    pki = Pki(SignatureAlgorithm.ED25519, cache_dir=tmp_path / "keys")
    check = StatusSealCheck(SignatureVerifier(pki.directory))
    broker = BrokerConfig(bootstrap=kafka_bootstrap, partitions=1)
    events = EventCodec(AvroCodec(FileSchemaRegistry()))
    topic = f"{run_id}.inbound"
    await create_topics(broker, [topic])
    producer = TrackingProducer.for_broker(broker)
    await producer.start()
    try:
        for code, by in ((StatusCode.COMPLETED, SENDER), (StatusCode.ARRIVED, RECIPIENT)):
            status = StatusEvent(layer=StatusLayer.BUSINESS, from_code=RECIPIENT,
                                 document_id=DOC, sender=SENDER, recipient=RECIPIENT,
                                 timestamp=dt.datetime.now(dt.UTC), status_code=code)
            status = dataclasses.replace(status, seal=seal(pki.agency_seal(by, by), status,
                                                           dt.datetime.now(dt.UTC)))
            await producer.send_and_wait(
                topic, value=events.encode_status(status), key=SENDER.encode(),
                headers=headers.build(headers.STATUS, DOC, RECIPIENT, (SENDER,)))
        everything = await statuses_sent(broker, [topic], events, lambda c: c == RECIPIENT)
        genuine = await statuses_sent(broker, [topic], events, lambda c: c == RECIPIENT,
                                      lambda s: check(s) is None)
    finally:
        await producer.stop()
        await delete_topics(broker, [topic])
    assert everything[(DOC, RECIPIENT)].finished
    assert genuine[(DOC, RECIPIENT)].codes == [StatusCode.ARRIVED]
    assert not genuine[(DOC, RECIPIENT)].finished
