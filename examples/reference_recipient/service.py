"""A reference recipient service for lgsp-sim, written from docs/contract.md, the ``.avsc`` files
and ``schemas/registry.json`` only, on confluent-kafka (librdkafka).

It reads ``lgsp.<run>.<platform>.deliver`` (and its rotated generations), takes in the documents
addressed to its agencies, checks them in the contract's order and answers each with edXML
statuses on ``lgsp.<run>.<platform>.inbound``: 01 then 02 with the reason, or 01, 03, 04, 05, 06,
each sealed with the answering agency's seal key (§7a).

    python -m examples.reference_recipient --bootstrap HOST:PORT --run-id RUN \\
        --agency 000.00.00.H56 --pki pki/
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import logging
import re
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)

if __package__ in (None, ""):  # run as a script: python examples/reference_recipient/service.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.reference_recipient import lifecycle, seal, verify, wire
from examples.reference_recipient.idle import IdlePauser
from examples.reference_recipient.offsets import Offsets, commit_done
from examples.reference_recipient.parent_seal import OtherSeals, other_agency
from examples.reference_recipient.supervise import supervise

log = logging.getLogger("reference_recipient")

KIND, ID, FROM, TO = "lgsp-kind", "lgsp-id", "lgsp-from", "lgsp-to"
REPLAY_OF, TRACEPARENT, TRACESTATE, REASON = ("lgsp-replay-of", "traceparent", "tracestate",
                                              "lgsp-reason")
DEAD_LETTERED = frozenset({"undecodable", "unknown_schema_id", "schema_invalid"})
PROGRESS_EVERY = 100
COMMIT_EVERY_S = 0.5
BACKLOG_PAUSE = 1000
SEAL_OWN, SEAL_NONE, SEAL_PARENT = "own", "none", "parent"
"""How statuses are sealed: with the answering agency's key (the contract), not at all (v1
statuses, ``--no-seal``), or with another agency's seal (``--seal-with-parent``)."""

# What the embedded Tansu broker needs (it works with librdkafka's defaults, only slowly):
# - a JoinGroup is answered after about half the session timeout, so the default 45 s made the
#   first assignment take ~23 s; 6 s (Apache Kafka's minimum) takes ~3 s;
# - a waiting fetch is not woken by new data, so fetches wait at most 10 ms;
# - a subscription learns of new (rotated) topics at the metadata refresh interval;
# - Tansu closes idle connections: librdkafka reconnects, without logging each close.
TANSU_FRIENDLY: dict[str, Any] = {
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1500,
    "fetch.wait.max.ms": 10,
    "topic.metadata.refresh.interval.ms": 1000,
    "log.connection.close": False,
}


@dataclass(frozen=True, slots=True)
class Options:
    bootstrap: str
    run_id: str
    agencies: tuple[str, ...]
    platform: str
    pki: Path | None
    group: str
    behaviour: lifecycle.Behaviour
    require_personal: bool = False
    ready_file: Path | None = None
    schemas: Path = wire.DEFAULT_SCHEMAS
    pki_timeout_s: float = 600.0
    idle_pause_s: float = 2.0
    client_config: dict[str, Any] = field(default_factory=dict)
    seal: str = SEAL_OWN


def _regex_escape(text: str) -> str:
    """Escape for librdkafka's regex engine (which does not know ``\\-``)."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


def deliver_pattern(run_id: str, platform: str) -> str:
    """The deliver topic and every rotated generation of it (``lgsp.<run>.g<N>.<platform>``)."""
    return (f"^lgsp\\.{_regex_escape(run_id)}\\.(g[0-9]+\\.)?"
            f"{_regex_escape(platform.lower())}\\.deliver$")


def inbound_for(deliver_topic: str) -> str:
    """Statuses stay in the topic generation of the record they answer."""
    return deliver_topic.removesuffix(".deliver") + ".inbound"


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    topic: str = field(compare=False)
    key: bytes = field(compare=False)
    record: dict[str, Any] = field(compare=False)
    headers: list[tuple[str, str | bytes | None]] = field(compare=False)
    source: tuple[str, int, int] = field(compare=False)


class Recipient:
    """The consume → verify → answer loop."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.behaviour = options.behaviour
        self.registry = wire.Registry(options.schemas)
        self.trust = verify.TrustStore(options.pki) if options.pki is not None else None
        self.trust_loaded = False
        self.seals = (seal.OwnSeals(options.pki, options.agencies)
                      if options.pki is not None and options.seal != SEAL_NONE else None)
        self.seals_loaded = False
        self.other_seals = (OtherSeals(options.pki)
                            if options.pki is not None and options.seal == SEAL_PARENT else None)
        self.dedupe = lifecycle.Dedupe()
        self.offsets = Offsets()
        self.counts: Counter[str] = Counter()
        self.stopping = False
        self.ready = False
        self._due: list[_Due] = []
        self._seq = itertools.count()
        self._backlog: list[Message] = []
        self._paused = False
        self._waiting_announced = False
        self._last_commit = 0.0
        self._assignment: list[TopicPartition] = []
        base = {"bootstrap.servers": options.bootstrap, **TANSU_FRIENDLY,
                **options.client_config, "logger": logging.getLogger("reference_recipient.kafka")}
        self.consumer = Consumer({**base, "group.id": options.group,
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                  "enable.partition.eof": False})
        producer_base = {k: v for k, v in base.items()
                         if k not in ("session.timeout.ms", "heartbeat.interval.ms",
                                      "fetch.wait.max.ms")}
        self.producer = Producer({**producer_base, "acks": "all", "linger.ms": 5})
        self.revocations = Consumer({**base, "group.id": f"{options.group}.revocations",
                                     "enable.auto.commit": False,
                                     "enable.partition.eof": False})
        # paused when idle: librdkafka crashes when Tansu deletes a topic it fetches (idle.py)
        self.idle = IdlePauser(self.consumer, idle_s=options.idle_pause_s)
        self.revocations_idle = IdlePauser(self.revocations, idle_s=options.idle_pause_s)

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        if self.options.ready_file is not None:  # left over from an earlier start
            self.options.ready_file.unlink(missing_ok=True)
        pattern = deliver_pattern(self.options.run_id, self.options.platform)
        self.consumer.subscribe([pattern], on_assign=self._assigned, on_revoke=self._revoked)
        revocations = [TopicPartition(f"lgsp.{self.options.run_id}.revocations", 0,
                                      OFFSET_BEGINNING)]
        self.revocations.assign(revocations)
        self.revocations_idle.assigned_now(revocations)
        log.info("reading %s for %s (group %s)", pattern, ", ".join(self.options.agencies),
                 self.options.group)
        started = time.monotonic()
        try:
            while not self.stopping:
                self._load_trust(started)
                self._read_revocations()
                timeout = 0.1
                if self._due:
                    timeout = max(0.0, min(timeout, self._due[0].at - time.monotonic()))
                message = self.consumer.poll(timeout)
                if message is not None:
                    self._received(message)
                self._drain_backlog()
                self._send_due(time.monotonic())
                self.producer.poll(0)
                self._commit(force=False)
                self.idle.tick()
                self.revocations_idle.tick()
        finally:
            self._shutdown()
        return 0

    def stop(self, signum: int, _frame: FrameType | None = None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        self.stopping = True

    def _shutdown(self) -> None:
        """Send what is still due (at once), wait for the deliveries, commit, close."""
        self._drain_backlog()
        self._send_due(float("inf"))
        left = self.producer.flush(10)
        if left:
            log.warning("%d statuses not confirmed by the broker at exit", left)
        self._commit(force=True)
        self.consumer.close()
        self.revocations.close()
        log.info("summary: %s", json.dumps(dict(sorted(self.counts.items()))))

    # --- group membership -----------------------------------------------------------------

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.assign(partitions)  # here, so that idle partitions can be paused again at once
        self._assignment = list(partitions)
        self.idle.assigned_now(partitions)
        if self._paused:
            consumer.pause(partitions)
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions)
                 or "nothing")
        if partitions and not self.ready:
            self.ready = True
            if self.options.ready_file is not None:
                self.options.ready_file.touch()

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit(force=True)
        self.offsets.forget([(p.topic, p.partition) for p in partitions])
        self.idle.revoked(partitions)
        self._assignment = []

    # --- inputs ---------------------------------------------------------------------------

    def _load_trust(self, started: float) -> None:
        """The trust anchors and the agencies' seals, waited for (the run writes them)."""
        if self.trust is not None and not self.trust_loaded and self.trust.try_load():
            self.trust_loaded = True
        if self.seals is not None and not self.seals_loaded and self.seals.try_load():
            self.seals_loaded = True
        missing = self._missing_files()
        if not missing:
            return
        if not self._waiting_announced:
            log.info("waiting for %s in %s", missing, self.options.pki)
            self._waiting_announced = True
        if time.monotonic() - started > self.options.pki_timeout_s:
            raise SystemExit(f"no {missing} in {self.options.pki} after "
                             f"{self.options.pki_timeout_s:.0f} s")

    def _missing_files(self) -> str:
        """What the service still waits for before it answers anything ('' when nothing)."""
        missing = []
        if self.trust is not None and not self.trust_loaded:
            missing.append("trust anchors (root-ca.pem, issuing-ca.pem, crl.pem)")
        if self.seals is not None and not self.seals_loaded:
            missing.append("seal keys (" + ", ".join(
                f"keys/{a}-agency.key + certs/{a}-agency.pem" for a in self.options.agencies
                if a not in self.seals.credentials) + ")")
        if self.other_seals is not None and not self.other_seals.can_issue():
            missing.append("the issuing CA's key (issuing-ca.key, for --seal-with-parent)")
        return " and ".join(missing)

    def _read_revocations(self) -> None:
        for _ in range(100):
            message = self.revocations.poll(0)
            if message is None:
                return
            error = message.error()
            if error is not None:
                if error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    log.debug("revocations: %s", error)
                return
            topic, partition, offset = _position(message)
            self.revocations_idle.seen(topic, partition, offset)
            try:
                entry = json.loads(message.value() or b"")
                serial = str(entry["serial"])
                if self.trust is not None:
                    self.trust.revoke(serial)
                log.info("revoked: %s (%s)", serial, entry.get("reason"))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("unreadable revocation at offset %s: %s", message.offset(), exc)

    def _received(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() not in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                log.warning("consumer: %s", error)
            return
        topic, partition, offset = _position(message)
        self.idle.seen(topic, partition, offset)
        self.offsets.of((topic, partition)).taken(offset)
        self._backlog.append(message)
        if len(self._backlog) > BACKLOG_PAUSE and not self._paused and self._assignment:
            self.consumer.pause(self._assignment)
            self._paused = self.idle.held = True

    def _drain_backlog(self) -> None:
        if self._missing_files():
            return
        backlog, self._backlog = self._backlog, []
        for message in backlog:
            self._handle(message)
        if self._paused:
            self._paused = self.idle.held = False
            self.idle.resume_all_but_idle()

    # --- one record -----------------------------------------------------------------------

    def _handle(self, message: Message) -> None:
        headers = _headers(message)
        source = _position(message)
        if headers.get(KIND) == "status":
            self.counts["statuses_ignored"] += 1
            return
        key = (message.key() or b"").decode("utf-8", "replace")
        doc_id, sender, to = headers.get(ID), headers.get(FROM), headers.get(TO)
        listed = [c.strip() for c in (to or "").split(",") if c.strip()]
        targets = [c for c in listed if c in self.options.agencies]
        if not targets and not listed and key in self.options.agencies:
            targets = [key]
        if not targets:
            self.counts["not_ours"] += 1
            return
        if headers.get(KIND) != "document" or not doc_id or not sender:
            self._dead_letter(message, "missing_routing_headers",
                              "lgsp-kind, lgsp-id, lgsp-from and lgsp-to are required", targets)
            return
        for recipient in targets:
            self._take_in(message, headers, doc_id, sender, recipient, source)

    def _take_in(self, message: Message, headers: dict[str, str], doc_id: str, sender: str,
                 recipient: str, source: tuple[str, int, int]) -> None:
        if self.behaviour.dropped(doc_id):
            self.counts["dropped_on_purpose"] += 1
            return
        if not self.behaviour.answer_redelivered and \
                not self.dedupe.first_time((doc_id, recipient)):
            self.counts["redelivered_absorbed"] += 1
            log.info("redelivered, absorbed: %s for %s", doc_id, recipient)
            return
        self.counts["documents"] += 1
        refusal, detail = self._check(message, headers, doc_id, sender, recipient)
        if refusal is None:
            self.counts["accepted"] += 1
        else:
            self.counts["refused"] += 1
            self.counts[f"refused:{refusal}"] += 1
            log.info("refused %s for %s: %s (%s)", doc_id, recipient, refusal, detail)
            if refusal in DEAD_LETTERED:
                self._dead_letter(message, refusal, detail, [recipient])
        if self.counts["documents"] % PROGRESS_EVERY == 0:
            log.info("%d documents taken in (%d accepted, %d refused)", self.counts["documents"],
                     self.counts["accepted"], self.counts["refused"])
        now = time.monotonic()
        topic = inbound_for(source[0])
        trace: list[tuple[str, str | bytes | None]] = [
            (name, headers[name].encode()) for name in (TRACEPARENT, TRACESTATE)
            if headers.get(name)]
        for after_s, code, reason in self.behaviour.plan(refusal):
            record = {
                "layer": "BUSINESS", "from_code": recipient, "document_id": doc_id,
                "sender": sender, "recipient": recipient, "status_code": code,
                "transport_state": None, "reason": reason,
                "description": detail if reason else lifecycle.DESCRIPTIONS[code],
                "staff": None, "timestamp": 0}
            status_headers: list[tuple[str, str | bytes | None]] = [
                (KIND, b"status"), (ID, doc_id.encode()), (FROM, recipient.encode()),
                (TO, sender.encode()), *trace]
            self.offsets.of(source[:2]).expect(source[2])
            heapq.heappush(self._due, _Due(now + after_s, next(self._seq), topic,
                                           sender.encode(), record, status_headers, source))

    def _check(self, message: Message, headers: dict[str, str], doc_id: str, sender: str,
               recipient: str) -> tuple[str | None, str]:
        """(the contract's refusal reason or None, a detail), in the contract's order."""
        try:
            _, event = self.registry.decode_framed(message.value(), wire.DOCUMENT_EVENT)
        except wire.WireError as exc:
            return exc.reason, exc.detail
        digest_ok = verify.digest_matches(event)
        if not digest_ok and not self.behaviour.accept_bad_signatures:
            return "tampered", "the content digest does not match the content"
        try:
            document = self.registry.decode_body(event["content_schema_id"], wire.DOCUMENT,
                                                 event["content"])
        except wire.WireError as exc:
            return exc.reason, exc.detail
        claimed = headers.get(REPLAY_OF) or doc_id
        if document["document_id"] != claimed or document["sender"] != sender:
            return "header_mismatch", (f"headers say {claimed} from {sender}, the content "
                                       f"{document['document_id']} from {document['sender']}")
        if document.get("secrecy", 0) != 0:
            return "secret_document", f"secrecy {document['secrecy']}"
        if recipient not in document["recipients"]:
            return "wrong_recipient", f"{recipient} is not among the document's recipients"
        if self.behaviour.accept_bad_signatures or self.trust is None:
            return None, ""
        reason = verify.check_signatures(event, sender, self.trust,
                                         require_personal=self.options.require_personal)
        return reason, (f"signature check failed: {reason}" if reason else "")

    # --- outputs --------------------------------------------------------------------------

    def _send_due(self, until: float) -> None:
        while self._due and self._due[0].at <= until:
            due = heapq.heappop(self._due)
            self._produce(due)

    def _seal(self, record: dict[str, Any], now_us: int) -> dict[str, Any] | None:
        """The status's seal (§7a): the answering agency's, or another's (a misbehaviour)."""
        if self.seals is None:
            return None
        credential = self.seals.of(record["recipient"])
        if self.other_seals is not None:
            credential = self.other_seals.of(
                other_agency(record["recipient"], record["sender"]), credential)
        return credential.seal(record, now_us)

    def _produce(self, due: _Due) -> None:
        # the timestamp says when the status was sent, not when it was planned; sealed then
        now_us = time.time_ns() // 1000
        record = {**due.record, "timestamp": now_us}
        record["seal"] = self._seal(record, now_us)
        value = self.registry.encode_framed(  # --no-seal: the v1 statuses of before §7a
            wire.STATUS_EVENT, record, 1 if self.options.seal == SEAL_NONE else None)

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:  # at least once: send it again
                log.warning("status to %s not delivered (%s): sending it again", due.topic, error)
                heapq.heappush(self._due, _Due(time.monotonic() + 0.5, next(self._seq),
                                               due.topic, due.key, due.record, due.headers,
                                               due.source))
                return
            self.counts[f"status:{record['status_code']}"] += 1
            self.offsets.of(due.source[:2]).delivered(due.source[2])

        while True:
            try:
                self.producer.produce(due.topic, key=due.key, value=value, headers=due.headers,
                                      on_delivery=delivered)
                return
            except BufferError:
                self.producer.poll(0.1)

    def _dead_letter(self, message: Message, reason: str, detail: str,
                     recipients: list[str]) -> None:
        self.counts[f"dead_letter:{reason}"] += 1
        topic, partition, offset = _position(message)
        value = self.registry.encode_framed(wire.DEAD_LETTER, {
            "reason": reason, "detail": detail,
            "stage": f"recipient:{','.join(recipients)}",
            "source_topic": topic, "source_partition": partition, "source_offset": offset,
            "key": message.key(), "value": message.value(),
            "headers": [{"key": k, "value": v if isinstance(v, bytes | None) else v.encode()}
                        for k, v in _header_items(message)],
            "failed_at": time.time_ns() // 1000})
        source = (topic, partition)
        self.offsets.of(source).expect(offset)

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                log.error("dead letter not delivered: %s", error)
            self.offsets.of(source).delivered(offset)

        self.producer.produce(f"lgsp.{self.options.run_id}.dead-letter", key=message.key(),
                              value=value, headers=[(REASON, reason.encode())],
                              on_delivery=delivered)

    def _commit(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_commit < COMMIT_EVERY_S:
            return
        self._last_commit = now
        commit_done(self.consumer, self.producer, self.offsets, log, force=force)


def _position(message: Message) -> tuple[str, int, int]:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("a consumed record without topic, partition or offset")
    return topic, partition, offset


def _header_items(message: Message) -> list[tuple[str, str | bytes | None]]:
    found = message.headers()
    if found is None:
        return []
    return list(found.items()) if isinstance(found, dict) else list(found)


def _headers(message: Message) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in _header_items(message):
        if value is not None and name not in out:
            out[name] = value.decode("utf-8", "replace") if isinstance(value, bytes) \
                else str(value)
    return out


# --- command line ---------------------------------------------------------------------------

def _share(text: str) -> float:
    share = float(text)
    if not 0.0 <= share <= 1.0:
        raise argparse.ArgumentTypeError(f"{text}: a share is between 0 and 1")
    return share


def _status_code(text: str) -> str:
    if text not in lifecycle.DESCRIPTIONS:
        raise argparse.ArgumentTypeError(f"{text}: one of {', '.join(lifecycle.DESCRIPTIONS)}")
    return text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m examples.reference_recipient",
        description="A recipient service for lgsp-sim's --external recipient=CODE, written from "
                    "docs/contract.md only (confluent-kafka).")
    p.add_argument("--bootstrap", required=True, help="Kafka bootstrap HOST:PORT[,HOST:PORT]")
    p.add_argument("--run-id", required=True, help="the run id of the lgsp-sim run (--run-id)")
    p.add_argument("--agency", action="append", required=True, metavar="CODE",
                   help="an agency code this service answers for (repeatable)")
    p.add_argument("--platform", help="home platform as in topic names (default: from the "
                   "codes: ...H56 -> lgsp-h56, other last segments -> vdxp)")
    p.add_argument("--pki", type=Path, help="the run's --pki-out directory (root-ca.pem, "
                   "issuing-ca.pem, crl.pem; keys/CODE-agency.key and certs/CODE-agency.pem, "
                   "each agency's seal); waited for, reloaded when it changes")
    p.add_argument("--pki-timeout-s", type=float, default=600.0,
                   help="give up when the trust anchors or a seal key are not there after "
                   "this (default 600)")
    p.add_argument("--group", help="consumer group id (default: refsvc.<run>.<agencies>)")
    p.add_argument("--step-ms", type=int, default=20, help="delay between 03, 04, 05, 06 "
                   "(default 20)")
    p.add_argument("--signature-policy", choices=("require-agency", "require-both"),
                   default="require-agency", help="require-both refuses a document without "
                   "a personal signature (missing_personal_signature)")
    p.add_argument("--idle-pause-s", type=float, default=2.0,
                   help="pause a partition that gave nothing for this long (watched, resumed when "
                   "a record comes): librdkafka 2.16 crashes when Tansu deletes a topic it is "
                   "fetching, as runs do at their end and when topics rotate; 0: never (2)")
    p.add_argument("--ready-file", type=Path, help="touched once partitions are assigned")
    p.add_argument("--schemas", type=Path, default=wire.DEFAULT_SCHEMAS,
                   help="directory holding registry.json and the .avsc files")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="an extra librdkafka setting for all clients (repeatable)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--no-supervise", action="store_true",
                   help="run in this process (default: in a child process, started again if "
                   "librdkafka crashes it)")
    bad = p.add_argument_group("misbehaviour (each breaks exactly one rule)")
    bad.add_argument("--skip-status", action="append", default=[], type=_status_code,
                     metavar="CODE", help="never send this status code (repeatable)")
    bad.add_argument("--answer-twice", action="store_true", help="send every status twice")
    bad.add_argument("--accept-bad-signatures", action="store_true",
                     help="never refuse for a digest or signature reason")
    bad.add_argument("--delay-ms", type=int, default=0, help="wait this long before the 01")
    bad.add_argument("--drop-share", type=_share, default=0.0, metavar="P",
                     help="ignore this share of documents (by a hash of the DocumentId)")
    bad.add_argument("--answer-redelivered", action="store_true",
                     help="answer a redelivered document again (no dedupe)")
    bad.add_argument("--out-of-order", action="store_true", help="send 04 before 03")
    sealing = bad.add_mutually_exclusive_group()
    sealing.add_argument("--no-seal", action="store_true",
                         help="send unsealed statuses (lgsp.status-event v1, no seal)")
    sealing.add_argument("--seal-with-parent", action="store_true",
                         help="seal statuses with another agency's seal: the parent agency's "
                         "(the sender's for a top-level unit), issued here by the run's CA "
                         "(issuing-ca.key of --pki)")
    return p


def options_from(args: argparse.Namespace) -> Options:
    agencies = tuple(dict.fromkeys(args.agency))
    platforms = {lifecycle.platform_of(code) for code in agencies}
    if args.platform is None and len(platforms) > 1:
        raise SystemExit(f"--agency codes of several platforms ({', '.join(sorted(platforms))}): "
                         "run one service per platform, or name it with --platform")
    platform = (args.platform or platforms.pop()).lower()
    if args.pki is None and not args.accept_bad_signatures:
        raise SystemExit("--pki DIR is required to verify signatures")
    if args.pki is None and not args.no_seal:
        raise SystemExit("--pki DIR is required to seal statuses (its keys/CODE-agency.key); "
                         "--no-seal sends them unsealed")
    config: dict[str, Any] = {}
    for item in args.config:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--config {item!r}: expected KEY=VALUE")
        config[name] = value
    return Options(
        bootstrap=args.bootstrap, run_id=args.run_id, agencies=agencies, platform=platform,
        pki=args.pki, group=args.group or f"refsvc.{args.run_id}.{'+'.join(agencies)}",
        behaviour=lifecycle.Behaviour(
            step_ms=args.step_ms, skip=frozenset(args.skip_status),
            answer_twice=args.answer_twice, accept_bad_signatures=args.accept_bad_signatures,
            delay_ms=args.delay_ms, drop_share=args.drop_share,
            answer_redelivered=args.answer_redelivered, out_of_order=args.out_of_order),
        require_personal=args.signature_policy == "require-both", ready_file=args.ready_file,
        schemas=args.schemas, pki_timeout_s=args.pki_timeout_s,
        idle_pause_s=args.idle_pause_s, client_config=config,
        seal=SEAL_NONE if args.no_seal else SEAL_PARENT if args.seal_with_parent else SEAL_OWN)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s refsvc: %(message)s")
    if not args.no_supervise:
        options_from(args)  # refuse bad switches here, once
        return supervise(argv)
    service = Recipient(options_from(args))
    signal.signal(signal.SIGINT, service.stop)
    signal.signal(signal.SIGTERM, service.stop)
    return service.run()


if __name__ == "__main__":
    sys.exit(main())
