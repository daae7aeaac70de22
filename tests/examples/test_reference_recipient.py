"""The reference recipient (examples/reference_recipient), written from docs/contract.md only,
answers real documents made with lgsp's own code the way the contract says.

The service runs as a subprocess on the test broker; the test (which may import lgsp) signs
documents with lgsp's PKI, puts them on the deliver topic and reads the statuses back from the
inbound topic with lgsp's own codec. Every wait is bounded.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry, SignedDocument
from lgsp.domain import Document, Signer
from lgsp.domain.status import StatusEvent
from lgsp.signing import Pki, SignatureAlgorithm, SignatureRole, content_digest, sign
from lgsp.signing.pki import Credential
from lgsp.signing.pki_files import write_pki

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIR = ROOT / "examples" / "reference_recipient"
SENDER = "000.00.00.H56"
RECIPIENT = "000.00.01.H56"
OTHER = "000.00.02.H56"
PLATFORM = "lgsp-h56"
READY_TIMEOUT_S = 60.0
ANSWER_TIMEOUT_S = 60.0
ACCEPTED = ["01", "03", "04", "05", "06"]
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
# the embedded broker answers a JoinGroup after half the session timeout (see the service)
CLIENT = {"session.timeout.ms": 6000, "fetch.wait.max.ms": 10, "log.connection.close": False}


def test_the_service_imports_nothing_of_lgsp() -> None:
    forbidden = {"lgsp", "producers", "consumers"}
    files = sorted(SERVICE_DIR.glob("*.py"))
    assert files
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
                assert name.split(".")[0] != "aiokafka", f"{path.name} imports {name}"


# --- documents made with lgsp's own code --------------------------------------------------


@dataclasses.dataclass
class World:
    """A run's PKI (written as --pki-out writes it) and a foreign CA, and lgsp's codec."""

    pki: Pki
    rogue: Pki
    pki_dir: Path
    events: EventCodec
    numbers: Iterator[int]

    def credential(self, code: str, role: SignatureRole, pki: Pki | None = None) -> Credential:
        return (pki or self.pki).credential(code, role, holder=f"holder of {code}",
                                            organization=f"agency {code}")

    def document(self, *, recipients: tuple[str, ...] = (RECIPIENT,)) -> Document:
        number = next(self.numbers)
        today = dt.datetime.now(dt.UTC).date()
        notation = f"{number}/QĐ-UBND"
        return Document(
            document_id=f"{SENDER},{today:%Y/%m/%d},{notation}", number=number,
            notation=notation, type_name="quyết định", subject=f"thử nghiệm {number}",
            sender=SENDER, recipients=recipients, promulgation_place="Thanh Hóa",
            promulgation_date=today, signer=Signer("TM.", "Chủ tịch", "Nguyễn Văn An"))

    def outside_seal(self, pki: Pki | None = None) -> Credential:
        """The recipient's own seal: what --pki-out writes for --external recipient=CODE."""
        return self.credential(RECIPIENT, SignatureRole.AGENCY, pki)

    def write(self, pki: Pki | None = None, directory: Path | None = None) -> None:
        """The PKI as --pki-out writes it: anchors, certificates, the recipient's seal key."""
        self.outside_seal(pki)  # issued first, as the run does for an external recipient
        write_pki(pki or self.pki, directory or self.pki_dir, seal_keys=[RECIPIENT])

    def signed(self, document: Document, *, seal_of: str = SENDER, seal_pki: Pki | None = None,
               personal: bool = True) -> SignedDocument:
        schema = self.events.document_schema
        content = self.events.encode_content(document, schema)
        digest = content_digest(content, schema.id)
        now = dt.datetime.now(dt.UTC)
        agency = sign(self.credential(seal_of, SignatureRole.AGENCY, seal_pki), digest, now)
        person = sign(self.credential(SENDER, SignatureRole.PERSONAL), digest, now) \
            if personal else None
        return SignedDocument(schema.id, content, digest, person, agency)


@pytest.fixture(scope="module")
def world(pki_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> World:
    pki = Pki(SignatureAlgorithm.ED25519, cache_dir=pki_cache)
    rogue = Pki(SignatureAlgorithm.ED25519, cache_dir=tmp_path_factory.mktemp("rogue-keys"))
    world = World(pki, rogue, tmp_path_factory.mktemp("pki-out"),
                  EventCodec(AvroCodec(FileSchemaRegistry())), iter(range(1, 10_000)))
    for code in (SENDER, OTHER):  # issue before writing, so certs/ lists them
        world.credential(code, SignatureRole.AGENCY)
        world.credential(code, SignatureRole.PERSONAL)
    world.write()
    return world


# --- the broker side ----------------------------------------------------------------------


def deliver_topic(run: str) -> str:
    return f"lgsp.{run}.{PLATFORM}.deliver"


def inbound_topic(run: str) -> str:
    return f"lgsp.{run}.{PLATFORM}.inbound"


def create_topics(bootstrap: str, run: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(deliver_topic(run), 3, 1),
                                   NewTopic(inbound_topic(run), 3, 1)])
    for future in futures.values():
        future.result(30)


def deliver(bootstrap: str, run: str, records: list[tuple[str, bytes, list[tuple[str, bytes]]]],
            ) -> None:
    """Put records (key, value, headers) on the deliver topic, as a platform does."""
    producer = Producer({"bootstrap.servers": bootstrap, "log.connection.close": False})
    errors: list[object] = []
    for key, value, headers in records:
        producer.produce(deliver_topic(run), key=key.encode(), value=value, headers=headers,
                         on_delivery=lambda error, _m: errors.append(error) if error else None)
    assert producer.flush(30) == 0
    assert not errors


def document_record(world: World, document: Document, signed: SignedDocument,
                    recipient: str = RECIPIENT, *, traceparent: str | None = None,
                    value: bytes | None = None) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    headers = [("lgsp-kind", b"document"), ("lgsp-id", document.document_id.encode()),
               ("lgsp-from", document.sender.encode()), ("lgsp-to", recipient.encode()),
               ("lgsp-trace", f"LGSP-H56@{time.time_ns() // 1000}".encode())]
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    return recipient, value if value is not None else world.events.encode_signed(signed), headers


@dataclasses.dataclass
class Answer:
    status: StatusEvent
    key: str
    headers: dict[str, str]
    value: bytes = b""
    """The record's value as the service wrote it (its seal: test_reference_recipient_seal)."""


class Inbound:
    """Reads the statuses the service writes, from the beginning of the inbound topic."""

    def __init__(self, bootstrap: str, run: str, events: EventCodec) -> None:
        self.events = events
        self.consumer = Consumer({"bootstrap.servers": bootstrap, **CLIENT,
                                  "group.id": f"reader-{uuid.uuid4().hex[:6]}",
                                  "enable.auto.commit": False})
        self.consumer.assign([TopicPartition(inbound_topic(run), p, -2) for p in range(3)])
        self.answers: list[Answer] = []

    def codes(self, document_id: str) -> list[str]:
        return [a.status.status_code.value for a in self.answers
                if a.status.document_id == document_id and a.status.status_code is not None]

    def wait(self, done: Callable[[], bool], what: str,
             timeout_s: float = ANSWER_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.answers}"
            message = self.consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            headers = {k: (v or b"").decode() for k, v in message.headers() or []}
            self.answers.append(Answer(self.events.decode_status(message.value()),
                                       (message.key() or b"").decode(), headers,
                                       message.value() or b""))

    def close(self) -> None:
        self.consumer.close()


@contextlib.contextmanager
def service(bootstrap: str, run: str, world: World, tmp_path: Path,
            *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """The service as a subprocess, ready (partitions assigned); SIGTERM ends it with exit 0."""
    ready = tmp_path / f"ready-{run}"
    log_path = tmp_path / f"service-{run}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "examples.reference_recipient", "--bootstrap", bootstrap,
             "--run-id", run, "--agency", RECIPIENT, "--pki", str(world.pki_dir),
             "--ready-file", str(ready), "--step-ms", "5", *extra],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not ready.exists():
                assert proc.poll() is None, f"the service died: {log_path.read_text()}"
                assert time.monotonic() < deadline, f"not ready: {log_path.read_text()}"
                time.sleep(0.05)
            yield proc
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0, log_path.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    output = log_path.read_text()
    assert "summary:" in output, output


@pytest.fixture
def run(kafka_bootstrap: str) -> str:
    name = f"rs{uuid.uuid4().hex[:8]}"
    create_topics(kafka_bootstrap, name)
    return name


def tampered(world: World, signed: SignedDocument) -> bytes:
    """The event with one content byte changed (the digest and signatures left as signed): a
    letter of the subject, so the content still decodes."""
    content = bytearray(signed.content)
    at = content.index("thử nghiệm".encode())
    content[at] = ord("T")
    return world.events.encode_signed(dataclasses.replace(signed, content=bytes(content)))


# --- the good service ---------------------------------------------------------------------


@pytest.mark.e2e
def test_the_good_service_answers_as_the_contract_says(kafka_bootstrap: str, run: str,
                                                        world: World, tmp_path: Path) -> None:
    valid = world.document()
    valid_signed = world.signed(valid)
    Record = tuple[str, bytes, list[tuple[str, bytes]]]
    bad: dict[str, tuple[Record, str]] = {}  # DocumentId -> (record, the 02 reason it must get)
    doc = world.document()
    signed = world.signed(doc)
    bad[doc.document_id] = (document_record(world, doc, signed, value=tampered(world, signed)),
                            "tampered")
    doc = world.document()
    bad[doc.document_id] = (document_record(world, doc, world.signed(doc, seal_of=OTHER)),
                            "signer_not_sender")
    doc = world.document()
    forged = world.signed(doc)
    assert forged.agency_signature is not None
    broken = dataclasses.replace(forged.agency_signature, value=bytes(
        b ^ 0xFF if i == 0 else b for i, b in enumerate(forged.agency_signature.value)))
    bad[doc.document_id] = (document_record(world, doc, dataclasses.replace(
        forged, agency_signature=broken)), "bad_signature")
    doc = world.document()
    bad[doc.document_id] = (document_record(world, doc, world.signed(doc, seal_pki=world.rogue)),
                            "unknown_issuer")
    doc = world.document(recipients=(OTHER,))
    bad[doc.document_id] = (document_record(world, doc, world.signed(doc)), "wrong_recipient")
    doc = world.document()
    bad[doc.document_id] = (document_record(world, doc, world.signed(doc), value=b"garbage"),
                            "undecodable")
    not_ours = world.document(recipients=(OTHER,))

    inbound = Inbound(kafka_bootstrap, run, world.events)
    try:
        with service(kafka_bootstrap, run, world, tmp_path):
            deliver(kafka_bootstrap, run, [
                document_record(world, valid, valid_signed, traceparent=TRACEPARENT),
                *(record for record, _ in bad.values()),
                document_record(world, not_ours, world.signed(not_ours), recipient=OTHER)])
            inbound.wait(lambda: inbound.codes(valid.document_id) == ACCEPTED
                         and all(len(inbound.codes(d)) >= 2 for d in bad), "every answer")

            # a redelivered document is absorbed: nothing more about it, while a document
            # delivered after it (same partition: same key) is answered
            deliver(kafka_bootstrap, run, [
                document_record(world, valid, valid_signed),
                document_record(world, after := world.document(), world.signed(after))])
            inbound.wait(lambda: inbound.codes(after.document_id) == ACCEPTED, "the next one")
        assert inbound.codes(valid.document_id) == ACCEPTED
        for document_id, (_, reason) in bad.items():
            answers = [a.status for a in inbound.answers if a.status.document_id == document_id]
            assert [s.status_code.value for s in answers if s.status_code] == ["01", "02"], \
                (reason, answers)
            assert answers[1].reason == reason
        assert not [a for a in inbound.answers if a.status.document_id == not_ours.document_id]
        first = next(a for a in inbound.answers if a.status.document_id == valid.document_id)
        assert first.key == SENDER
        assert first.status.from_code == first.status.recipient == RECIPIENT
        assert first.status.sender == SENDER
        assert first.headers["lgsp-kind"] == "status"
        assert first.headers["lgsp-id"] == valid.document_id
        assert first.headers["lgsp-from"] == RECIPIENT
        assert first.headers["lgsp-to"] == SENDER
        assert first.headers["traceparent"] == TRACEPARENT
    finally:
        inbound.close()
    # offsets were committed once answered: the group has read everything
    committed = Consumer({"bootstrap.servers": kafka_bootstrap, **CLIENT,
                          "group.id": f"refsvc.{run}.{RECIPIENT}"})
    try:
        positions = committed.committed([TopicPartition(deliver_topic(run), p)
                                         for p in range(3)], timeout=15)
        assert sum(max(tp.offset, 0) for tp in positions) == 2 + len(bad) + 2
    finally:
        committed.close()


# --- misbehaviour switches ----------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize(("switches", "valid_codes", "tampered_codes"), [
    (("--accept-bad-signatures",), ACCEPTED, ACCEPTED),
    (("--skip-status", "04"), ["01", "03", "05", "06"], ["01", "02"]),
    (("--out-of-order",), ["01", "04", "03", "05", "06"], ["01", "02"]),
    (("--answer-twice",), [c for c in ACCEPTED for _ in (0, 1)], ["01", "01", "02", "02"]),
], ids=["accept-bad-signatures", "skip-status-04", "out-of-order", "answer-twice"])
def test_each_switch_breaks_its_rule(kafka_bootstrap: str, run: str, world: World,
                                     tmp_path: Path, switches: tuple[str, ...],
                                     valid_codes: list[str], tampered_codes: list[str]) -> None:
    valid, bad = world.document(), world.document()
    bad_signed = world.signed(bad)
    inbound = Inbound(kafka_bootstrap, run, world.events)
    try:
        with service(kafka_bootstrap, run, world, tmp_path, *switches):
            deliver(kafka_bootstrap, run, [
                document_record(world, valid, world.signed(valid)),
                document_record(world, bad, bad_signed, value=tampered(world, bad_signed))])
            inbound.wait(lambda: inbound.codes(valid.document_id) == valid_codes
                         and inbound.codes(bad.document_id) == tampered_codes, "the answers")
            # and nothing more: a marker delivered after both is answered after them
            deliver(kafka_bootstrap, run, [
                document_record(world, marker := world.document(), world.signed(marker))])
            inbound.wait(lambda: "06" in inbound.codes(marker.document_id), "the marker")
        assert inbound.codes(valid.document_id) == valid_codes
        assert inbound.codes(bad.document_id) == tampered_codes
    finally:
        inbound.close()


@pytest.mark.e2e
def test_answer_redelivered_answers_again(kafka_bootstrap: str, run: str, world: World,
                                          tmp_path: Path) -> None:
    doc = world.document()
    record = document_record(world, doc, world.signed(doc))
    inbound = Inbound(kafka_bootstrap, run, world.events)
    try:
        with service(kafka_bootstrap, run, world, tmp_path, "--answer-redelivered"):
            deliver(kafka_bootstrap, run, [record])
            inbound.wait(lambda: inbound.codes(doc.document_id) == ACCEPTED, "the first answers")
            deliver(kafka_bootstrap, run, [record])
            inbound.wait(lambda: inbound.codes(doc.document_id) == ACCEPTED * 2, "answers again")
    finally:
        inbound.close()


# --- trust anchors: waited for, reloaded, revocations --------------------------------------


@pytest.mark.e2e
def test_trust_anchors_are_waited_for_reloaded_and_revocations_read(
        kafka_bootstrap: str, run: str, world: World, tmp_path: Path) -> None:
    pki_dir = tmp_path / "pki-late"
    late = dataclasses.replace(world, pki_dir=pki_dir)
    world.credential(SENDER, SignatureRole.AGENCY, world.rogue)  # a second run's CA
    world.credential(SENDER, SignatureRole.PERSONAL, world.rogue)
    first, second, third = world.document(), world.document(), world.document()
    inbound = Inbound(kafka_bootstrap, run, world.events)
    try:
        with service(kafka_bootstrap, run, late, tmp_path) as proc:
            assert proc.poll() is None  # ready (assigned) before the PKI exists
            deliver(kafka_bootstrap, run, [document_record(world, first, world.signed(first))])
            world.write(directory=pki_dir)  # the run writes its PKI after the service started
            inbound.wait(lambda: inbound.codes(first.document_id) == ACCEPTED, "the first")

            world.write(world.rogue, pki_dir)  # a new run, a new CA: reloaded on an unknown issuer
            rogue_signed = world.signed(second, seal_pki=world.rogue)
            assert rogue_signed.personal_signature is not None
            rogue_signed = dataclasses.replace(rogue_signed, personal_signature=None)
            deliver(kafka_bootstrap, run, [document_record(world, second, rogue_signed)])
            inbound.wait(lambda: inbound.codes(second.document_id) == ACCEPTED, "the second")

            seal = world.credential(SENDER, SignatureRole.AGENCY, world.rogue)
            producer = Producer({"bootstrap.servers": kafka_bootstrap,
                                 "log.connection.close": False})
            producer.produce(f"lgsp.{run}.revocations", partition=0, value=(
                f'{{"serial": "{seal.issued.serial}", "revoked_at": "2026-12-04T00:00:00Z", '
                '"reason": "keyCompromise"}').encode())
            assert producer.flush(30) == 0
            log_path = tmp_path / f"service-{run}.log"
            deadline = time.monotonic() + ANSWER_TIMEOUT_S
            while f"revoked: {seal.issued.serial}" not in log_path.read_text():
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.05)
            third_signed = dataclasses.replace(world.signed(third, seal_pki=world.rogue),
                                               personal_signature=None)
            deliver(kafka_bootstrap, run, [document_record(world, third, third_signed)])
            inbound.wait(lambda: len(inbound.codes(third.document_id)) == 2, "the third")
        assert [a.status.reason for a in inbound.answers
                if a.status.document_id == third.document_id] == [None, "revoked"]
    finally:
        inbound.close()


# --- the switches without a broker -------------------------------------------------------


def test_delay_and_drop_share_plans() -> None:
    from examples.reference_recipient.lifecycle import Behaviour, platform_of

    assert [code for _, code, _ in Behaviour().plan(None)] == ACCEPTED
    assert Behaviour(step_ms=20).plan(None)[-1][0] == pytest.approx(0.08)
    delayed = Behaviour(delay_ms=250).plan("tampered")
    assert delayed == [(0.25, "01", None), (0.25, "02", "tampered")]
    ids = [f"{SENDER},2026/12/04,{n}/CV" for n in range(2000)]
    half = Behaviour(drop_share=0.5)
    dropped = [i for i in ids if half.dropped(i)]
    assert 800 < len(dropped) < 1200
    assert dropped == [i for i in ids if half.dropped(i)]  # deterministic
    assert not any(Behaviour().dropped(i) for i in ids)
    assert all(Behaviour(drop_share=1.0).dropped(i) for i in ids)
    assert platform_of("000.00.01.H56") == "lgsp-h56"
    assert platform_of("000.00.00.G01") == "vdxp"


@pytest.mark.e2e
def test_the_run_deleting_its_topics_does_not_end_the_service(
        kafka_bootstrap: str, run: str, world: World, tmp_path: Path) -> None:
    """A run deletes its topics right after its last status (librdkafka 2.16 may crash on Tansu
    then: the supervisor starts the service again); topics made anew are read again."""
    first, second = world.document(), world.document()
    inbound = Inbound(kafka_bootstrap, run, world.events)
    try:
        with service(kafka_bootstrap, run, world, tmp_path) as proc:
            deliver(kafka_bootstrap, run, [document_record(world, first, world.signed(first))])
            inbound.wait(lambda: inbound.codes(first.document_id) == ACCEPTED, "the first")
            admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
            for future in admin.delete_topics([deliver_topic(run)]).values():
                future.result(30)
            # on Tansu the client crashes within a fetch or two; on Apache Kafka it does not
            log_path = tmp_path / f"service-{run}.log"
            deadline = time.monotonic() + 5
            while "starting it again" not in log_path.read_text() \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            assert proc.poll() is None
            create_topics_again = admin.create_topics([NewTopic(deliver_topic(run), 3, 1)])
            for future in create_topics_again.values():
                future.result(30)
            deliver(kafka_bootstrap, run, [document_record(world, second, world.signed(second))])
            inbound.wait(lambda: inbound.codes(second.document_id) == ACCEPTED, "the second")
    finally:
        inbound.close()
