"""A reference router for lgsp-sim's ``--external platform=...`` / ``--external vdxp``, written
from docs/contract.md §1-§3 and §10, the ``.avsc`` files and ``schemas/registry.json`` only, on
confluent-kafka (librdkafka).

It plays one platform: reads ``lgsp.<run>.<platform>.inbound`` (every partition, from the
earliest offset; rotated generations too), routes each record (route.py) and writes what it
causes; a record's offset is committed only once all of that was acknowledged by the broker.

    python -m examples.reference_router --bootstrap HOST:PORT --run-id RUN \\
        --platform LGSP-H56 --directory directory.json
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

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

if __package__ in (None, ""):  # run as a script (the supervisor does): python .../service.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from examples.reference_recipient import wire
from examples.reference_recipient.idle import IdlePauser
from examples.reference_recipient.offsets import Offsets, commit_done
from examples.reference_recipient.service import TANSU_FRIENDLY
from examples.reference_recipient.supervise import supervise
from examples.reference_router import headers as h
from examples.reference_router.behaviour import Behaviour
from examples.reference_router.directory import Directory, Platform
from examples.reference_router.holes import HoleGuard
from examples.reference_router.route import Out, Record, Router

log = logging.getLogger("reference_router")

SERVICE = Path(__file__).resolve()
PROGRESS_EVERY = 1000
COMMIT_EVERY_S = 0.5
BATCH = 500
RESEND_AFTER_S = 0.5
FLUSH_AT_EXIT_S = 15.0


@dataclass(frozen=True, slots=True)
class Options:
    bootstrap: str
    run_id: str
    platform: str
    directory: Path
    group: str
    behaviour: Behaviour = field(default_factory=Behaviour)
    ready_file: Path | None = None
    schemas: Path = wire.DEFAULT_SCHEMAS
    idle_pause_s: float = 2.0
    client_config: dict[str, Any] = field(default_factory=dict)


def _regex_escape(text: str) -> str:
    """Escape for librdkafka's regex engine (which does not know ``\\-``)."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", text)


def inbound_pattern(run_id: str, platform: str) -> str:
    """The platform's inbound topic and every rotated generation of it."""
    return (f"^lgsp\\.{_regex_escape(run_id)}\\.(g[0-9]+\\.)?"
            f"{_regex_escape(platform.lower())}\\.inbound$")


@dataclass(order=True)
class _Resend:
    at: float
    seq: int
    out: Out = field(compare=False)
    source: tuple[str, int, int] = field(compare=False)


class Service:
    """The consume → route → produce → commit loop."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.platform = Platform(options.platform.lower(), Directory.load(options.directory))
        self.router = Router(self.platform, options.run_id, wire.Registry(options.schemas),
                             options.behaviour)
        self.offsets = Offsets()
        self.counts: Counter[str] = Counter()
        self.stopping = False
        self.ready = False
        self._resends: list[_Resend] = []
        self._seq = itertools.count()
        self._last_commit = 0.0
        base = {"bootstrap.servers": options.bootstrap, **TANSU_FRIENDLY,
                **options.client_config, "logger": logging.getLogger("reference_router.kafka")}
        self.consumer = Consumer({**base, "group.id": options.group,
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                  "enable.partition.eof": False})
        producer_base = {k: v for k, v in base.items()
                         if k not in ("session.timeout.ms", "heartbeat.interval.ms",
                                      "fetch.wait.max.ms")}
        # idempotent: a retried produce is not written twice (one_copy)
        self.producer = Producer({"acks": "all", "linger.ms": 5, "enable.idempotence": True,
                                  **producer_base})
        # paused when idle: librdkafka crashes when Tansu deletes a topic it fetches (see
        # examples/reference_recipient/idle.py); the supervisor covers the rest
        self.idle = IdlePauser(self.consumer, idle_s=options.idle_pause_s)
        # the embedded broker can answer a fetch at the tail with a later batch (holes.py)
        self.holes = HoleGuard(self.consumer)

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> int:
        if self.options.ready_file is not None:  # left over from an earlier start
            self.options.ready_file.unlink(missing_ok=True)
        pattern = inbound_pattern(self.options.run_id, self.platform.name)
        self.consumer.subscribe([pattern], on_assign=self._assigned, on_revoke=self._revoked)
        log.info("%s: reading %s (group %s), waiting for it to exist", self.platform.code,
                 pattern, self.options.group)
        if not self.options.behaviour.well_behaved:
            log.warning("misbehaving on purpose: %s", self.options.behaviour)
        try:
            while not self.stopping:
                self.holes.new_batch()
                for message in self.consumer.consume(BATCH, 0.1):
                    self._received(message)
                self._send_resends(time.monotonic())
                self.producer.poll(0)
                self._commit(force=False)
                self.idle.tick()
        finally:
            self._shutdown()
        return 0

    def stop(self, signum: int, _frame: FrameType | None = None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        self.stopping = True

    def _shutdown(self) -> None:
        """Wait for what is in flight (sending failed records again), commit, close."""
        deadline = time.monotonic() + FLUSH_AT_EXIT_S
        while time.monotonic() < deadline:
            self._send_resends(float("inf"))
            left = self.producer.flush(max(0.1, deadline - time.monotonic()))
            if left == 0 and not self._resends:
                break
        else:
            log.warning("%d records not acknowledged by the broker at exit (their offsets stay "
                        "uncommitted)", len(self.producer) + len(self._resends))
        self._commit(force=True)
        self.consumer.close()
        counts = {**self.router.counts, **self.counts, "holes_read_again": self.holes.holes}
        log.info("summary: %s", json.dumps(dict(sorted(counts.items()))))

    # --- group membership -----------------------------------------------------------------

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.assign(partitions)  # here, so that idle partitions can be paused again at once
        self.holes.assigned(partitions)
        self.idle.assigned_now(partitions)
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions)
                 or "nothing")
        if partitions and not self.ready:
            self.ready = True
            if self.options.ready_file is not None:
                self.options.ready_file.touch()

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit(force=True)
        self.offsets.forget([(p.topic, p.partition) for p in partitions])
        self.holes.revoked(partitions)
        self.idle.revoked(partitions)

    # --- one record -----------------------------------------------------------------------

    def _received(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() not in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                log.warning("consumer: %s", error)
            return
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        if topic is None or partition is None or offset is None:
            return
        if not self.holes.take(topic, partition, offset):
            return
        self.idle.seen(topic, partition, offset)
        record = Record(topic, partition, offset, message.key(), message.value(),
                        h.normalise(message.headers()))
        outs = self.router.route(record, time.time_ns() // 1000)
        progress = self.offsets.of((topic, partition))
        progress.taken(offset)
        progress.expect(offset, len(outs))
        for out in outs:
            self._produce(out, (topic, partition, offset))
        self.counts["records"] += 1
        if self.counts["records"] % PROGRESS_EVERY == 0:
            log.info("%d records routed (%d documents, %d statuses)", self.counts["records"],
                     self.router.counts["documents"], self.router.counts["statuses"])

    def _produce(self, out: Out, source: tuple[str, int, int]) -> None:
        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:  # at least once: write it again
                self.counts["delivery_errors"] += 1
                log.warning("%s to %s not acknowledged (%s): writing it again", out.what,
                            out.topic, error)
                heapq.heappush(self._resends, _Resend(time.monotonic() + RESEND_AFTER_S,
                                                      next(self._seq), out, source))
                return
            self.counts[f"written:{out.what}"] += 1
            self.offsets.of(source[:2]).delivered(source[2])

        while True:
            try:
                self.producer.produce(out.topic, key=out.key, value=out.value,
                                      headers=list(out.headers), on_delivery=delivered)
                return
            except BufferError:  # the producer's queue is full: let it drain
                self.producer.poll(0.1)

    def _send_resends(self, until: float) -> None:
        while self._resends and self._resends[0].at <= until:
            resend = heapq.heappop(self._resends)
            self._produce(resend.out, resend.source)

    def _commit(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_commit < COMMIT_EVERY_S:
            return
        self._last_commit = now
        commit_done(self.consumer, self.producer, self.offsets, log, force=force)


# --- command line ---------------------------------------------------------------------------

def _share(text: str) -> float:
    share = float(text)
    if not 0.0 <= share <= 1.0:
        raise argparse.ArgumentTypeError(f"{text}: a share is between 0 and 1")
    return share


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m examples.reference_router",
        description="A platform's router for lgsp-sim's --external platform=CODE / --external "
                    "vdxp, written from docs/contract.md §10 only (confluent-kafka).")
    p.add_argument("--bootstrap", required=True, help="Kafka bootstrap HOST:PORT[,HOST:PORT]")
    p.add_argument("--run-id", required=True, help="the run id of the lgsp-sim run (--run-id)")
    p.add_argument("--platform", required=True, metavar="CODE",
                   help="the platform it plays, any case: LGSP-H56 (a province's LGSP) or VDXP")
    p.add_argument("--directory", required=True, type=Path, metavar="FILE",
                   help="the platform directory: lgsp topology -p PROFILE... --directory")
    p.add_argument("--group", help="consumer group id (default: refrouter.<run>.<platform>)")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="an extra librdkafka setting for all clients (repeatable)")
    p.add_argument("--ready-file", type=Path, help="touched once partitions are assigned")
    p.add_argument("--schemas", type=Path, default=wire.DEFAULT_SCHEMAS,
                   help="directory holding registry.json and the .avsc files")
    p.add_argument("--idle-pause-s", type=float, default=2.0,
                   help="pause a partition that gave nothing for this long (watched, resumed when "
                   "a record comes): librdkafka 2.16 crashes when Tansu deletes a topic it is "
                   "fetching, as runs do at their end; 0: never (2)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--no-supervise", action="store_true",
                   help="run in this process (default: in a child process, started again if "
                   "librdkafka crashes it)")
    bad = p.add_argument_group("misbehaviour (each breaks exactly one check of §10)")
    bad.add_argument("--lose-share", type=_share, default=0.0, metavar="F",
                     help="drop this share of the copies it should write (copy_delivered)")
    bad.add_argument("--duplicate-share", type=_share, default=0.0, metavar="F",
                     help="write this share of the copies twice (one_copy)")
    bad.add_argument("--wrong-topic-share", type=_share, default=0.0, metavar="F",
                     help="send this share of local copies to another platform's inbound "
                     "(right_destination)")
    bad.add_argument("--split-packets", action="store_true",
                     help="an LGSP forwards one packet per recipient "
                     "(one_packet_per_destination)")
    bad.add_argument("--no-fail-status", action="store_true",
                     help="no FAIL status for failed recipients (unknown_recipient_failed)")
    bad.add_argument("--no-trace", action="store_true",
                     help="append no lgsp-trace entry (trace_appended)")
    bad.add_argument("--key-by-document", action="store_true",
                     help="key deliver-topic copies by the DocumentId (record_intact)")
    bad.add_argument("--seed", type=int, default=1, help="seed of the shares' draws (1)")
    return p


def options_from(args: argparse.Namespace) -> Options:
    """The options of the command line; ValueError says what is wrong with them."""
    config: dict[str, Any] = {}
    for item in args.config:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--config {item!r}: expected KEY=VALUE")
        config[name] = value
    platform = args.platform.strip().lower()
    try:
        Platform(platform, Directory.load(args.directory))
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"--directory {args.directory} / --platform {args.platform}: "
                         f"{exc}") from exc
    return Options(
        bootstrap=args.bootstrap, run_id=args.run_id, platform=platform,
        directory=args.directory, group=args.group or f"refrouter.{args.run_id}.{platform}",
        behaviour=Behaviour(
            lose_share=args.lose_share, duplicate_share=args.duplicate_share,
            wrong_topic_share=args.wrong_topic_share, split_packets=args.split_packets,
            no_fail_status=args.no_fail_status, no_trace=args.no_trace,
            key_by_document=args.key_by_document, seed=args.seed),
        ready_file=args.ready_file, schemas=args.schemas, idle_pause_s=args.idle_pause_s,
        client_config=config)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cli = parser()
    args = cli.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s refrouter: %(message)s")
    try:
        options = options_from(args)  # refuse bad switches here, once (exit 2)
    except ValueError as exc:
        cli.error(str(exc))
    if not args.no_supervise:
        return supervise(argv, SERVICE)
    service = Service(options)
    signal.signal(signal.SIGINT, service.stop)
    signal.signal(signal.SIGTERM, service.stop)
    return service.run()


if __name__ == "__main__":
    sys.exit(main())
