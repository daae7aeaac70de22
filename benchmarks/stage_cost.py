"""Stage-cost bound: the per-document CPU of every stage, measured alone with the project's own code
(no Kafka), turned into documents/s on the cores available.

Figure (b) of the load test: (a) is the raw aiokafka pipe with the same records per document
(``e2e_vs_raw_pipe.py``), (c) the full simulation's max sustainable rate.

1. Real inputs: ``TrafficModel`` drafts (seed 1, profiles thanh-hoa + hai-duong + central, the asked
   fan-out, personal + agency signatures on every document), the run's PKI from the key cache and
   the file registry's Avro schemas.
2. The drafts go through the real handlers (``AgencySender.submit``, ``PlatformRouter.handle``,
   ``RecipientAgents.handle``, ``DeliveryTracker``) over an in-memory bus standing in for Kafka,
   with the full status lifecycle (01, 03, 04, 05, 06) and zero processing delay. The records of
   that first pass give the operation counts per document (records, router passes, hops per
   delivery) and the inputs of every stage.
3. Each stage's function is timed alone over those inputs with ``perf_counter_ns`` (one warm-up
   pass, GC on), in rounds: each round takes one sample of every stage (passes lasting >= 50 ms)
   and one more pipeline pass, so a slow spell of a shared machine hits them all alike; the
   figures are the medians over the rounds. µs/document = µs/op × ops/document; the bound is
   cores × 10⁶ / total µs per document (perfectly parallel workers, no Kafka client). The pipeline
   passes are printed as a cross-check: the stage sum plus the handlers' glue (asyncio, metrics,
   lifecycle tasks, the in-memory bus), still without a Kafka client.

    python benchmarks/stage_cost.py [--sig-alg rsa2048|ed25519|p256] [--fan-out 3]
                                    [--documents 300] [--rounds 5] [--seed 1] [--json]

``measure_stage_costs(sig_alg, fan_out, documents)`` returns the figures as a dict (from a
coroutine, ``await measure_stage_costs_async(...)``). A script run from ``benchmarks/`` imports it
with ``from stage_cost import measure_stage_costs``; code run from the repository root with
``from benchmarks.stage_cost import ...`` (a namespace package: no ``__init__.py`` needed).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import gc
import json
import math
import os
import platform
import statistics
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, cast

from aiokafka import AIOKafkaProducer, ConsumerRecord

from consumers.recipient import RecipientAgents
from consumers.tracker import DeliveryTracker
from lgsp.bus import headers
from lgsp.bus.consume_loop import Futures, Handler
from lgsp.bus.router import PlatformRouter
from lgsp.bus.routing import route_document, route_of, route_status
from lgsp.bus.topics import TopicNames
from lgsp.codec.avro import AvroCodec
from lgsp.codec.events import EventCodec, SignedDocument
from lgsp.codec.registry import FileSchemaRegistry
from lgsp.config import RecipientConfig
from lgsp.domain.document import Document
from lgsp.domain.status import StatusCode, StatusEvent, StatusLayer
from lgsp.domain.topology import VDXP, Topology
from lgsp.logs import configure_logging
from lgsp.metrics.run import LOCAL, RunMetrics
from lgsp.profiles import load_topology, load_traffic
from lgsp.signing.keys import SignatureAlgorithm
from lgsp.signing.pki import Credential, Pki, SignatureRole
from lgsp.signing.signature import SignatureBlock, SignatureVerifier, content_digest, sign
from producers.sender import AgencySender, vietnam_today
from producers.traffic import Draft, TrafficModel

PROFILES = ("thanh-hoa", "hai-duong")  # the simulation's default; central is always added
SEED = 1  # the simulation's default: the same draft sequence as `lgsp simulate`
ROUNDS = 5
NOT_INCLUDED = ("the Kafka client's per-record cost (aiokafka produce, batching, fetch, commit, "
                "network) and the broker's: that is figure (a), the raw aiokafka pipe")
ConsumedRecord = ConsumerRecord[bytes, bytes]


# ---- the real pipeline over an in-memory bus --------------------------------------------------
class InMemoryBus:
    """Stands in for the Kafka producer: each send is queued (one FIFO) and acknowledged at once."""

    def __init__(self) -> None:
        self.queue: deque[ConsumedRecord] = deque()
        self.log: list[ConsumedRecord] = []

    async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future[None]:
        record: ConsumedRecord = ConsumerRecord(
            topic, 0, len(self.log), 0, 0, key, value, None, len(key or b""), len(value or b""),
            headers or [])
        self.queue.append(record)
        self.log.append(record)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@dataclass(slots=True)
class World:
    """What every run shares: topology, PKI, codec, verifier and the drafts."""

    algorithm: SignatureAlgorithm
    topology: Topology
    pki: Pki
    events: EventCodec
    verifier: SignatureVerifier
    drafts: list[Draft]
    topics: TopicNames = field(default_factory=lambda: TopicNames("stage-cost"))


@dataclass(slots=True)
class PipelineRun:
    """One pass of the drafts through the real handlers."""

    elapsed_ns: int
    records: list[ConsumedRecord]
    documents: list[Document]
    completed: int


def build_world(sig_alg: str, fan_out: float, documents: int, seed: int = SEED) -> World:
    algorithm = SignatureAlgorithm.parse(sig_alg)
    topology = load_topology(list(PROFILES))
    traffic = TrafficModel(topology, load_traffic(), seed=seed, fan_out_mean=fan_out)
    # the target is personal + agency on every document (the profiles sign 98.7 % personally)
    drafts = [dataclasses.replace(traffic.draft(), sign_personal=True, sign_agency=True)
              for _ in range(documents)]
    senders = sorted({d.sender for d in drafts})
    pki = Pki(algorithm)  # keys from the shared key cache (generated on first use)
    pki.prepare(senders)
    events = EventCodec(AvroCodec(FileSchemaRegistry()))
    world = World(algorithm, topology, pki, events, SignatureVerifier(pki.directory), drafts)
    # Issue every sender's certificates now, as the simulation does before it sends.
    issuer = _sender(world, None, RunMetrics(), lambda _d, _t: None)
    for code in senders:
        issuer.credentials(code)
    return world


def _sender(world: World, producer: object, metrics: RunMetrics,
            expect: Callable[[Document, int], None]) -> AgencySender:
    return AgencySender(topology=world.topology, pki=world.pki, events=world.events,
                        producer=cast("AIOKafkaProducer", producer), topics=world.topics,
                        metrics=metrics, expect=expect)


async def _drain(bus: InMemoryBus, handlers: dict[str, Handler],
                 tracker: DeliveryTracker) -> None:
    """Hand every queued record to its stage until the tracker has nothing pending."""
    futures: Futures = []
    for _ in range(10_000):
        while bus.queue:
            record = bus.queue.popleft()
            handler = handlers.get(record.topic)
            if handler is None:
                raise RuntimeError(f"a record went to {record.topic}: the pipeline rejected "
                                   "something, so the counts would be wrong")
            await handler(record, futures)
        futures.clear()
        if not tracker.pending:
            return
        await asyncio.sleep(0)  # let the lifecycle tasks send 03..06
    raise RuntimeError(f"{tracker.pending} deliveries did not complete")


async def run_pipeline(world: World, drafts: Sequence[Draft]) -> PipelineRun:
    """Send ``drafts`` one at a time through the real handlers, each to its last 06."""
    bus = InMemoryBus()
    metrics = RunMetrics()
    tracker = DeliveryTracker(world.topology, metrics)
    documents: list[Document] = []

    def expect(document: Document, intended_ns: int) -> None:
        documents.append(document)
        tracker.expect(document, intended_ns)

    producer = cast("AIOKafkaProducer", bus)
    # records are handed to the stages' handlers directly
    common: dict[str, Any] = {
        "topology": world.topology, "topics": world.topics, "producer": producer,
        "events": world.events, "metrics": metrics}
    recipient_config = RecipientConfig(step_delay_s=0.0)
    handlers: dict[str, Handler] = {}
    recipients: list[RecipientAgents] = []
    try:
        for code in world.topology.platforms:
            router = PlatformRouter(code, **common)
            agents = RecipientAgents(code, verifier=world.verifier, on_status=tracker.on_status,
                                     config=recipient_config, **common)
            recipients.append(agents)
            handlers[world.topics.inbound(code)] = router.handle
            handlers[world.topics.deliver(code)] = agents.handle
        sender = _sender(world, bus, metrics, expect)
        date = vietnam_today()
        start = time.perf_counter_ns()
        for draft in drafts:
            await sender.submit(draft, time.monotonic_ns(), date=date)
            await _drain(bus, handlers, tracker)
        elapsed = time.perf_counter_ns() - start
    finally:
        for agents in recipients:
            await agents.stop()  # lifecycles still running
    completed = sum(stats.completed for stats in metrics.routes.values())
    return PipelineRun(elapsed, bus.log, documents, completed)


# ---- what the records say the pipeline did ------------------------------------------------------
@dataclass(slots=True)
class Traffic:
    """The records of a run, by the stage that consumed them, with their parsed headers."""

    router_documents: list[tuple[str, ConsumedRecord, headers.Routing]] = field(
        default_factory=list)
    """(platform, record, routing) of document packets a router handled."""
    router_statuses: list[tuple[str, ConsumedRecord, headers.Routing]] = field(
        default_factory=list)
    deliveries: list[tuple[ConsumedRecord, headers.Routing]] = field(default_factory=list)
    """Documents handed to a recipient agency."""
    tracked: list[tuple[ConsumedRecord, headers.Routing]] = field(default_factory=list)
    """Statuses handed to the sender's tracker, in the order the tracker saw them."""
    document_hops: int = 0
    """Document records a router produced (one with_hop each)."""
    status_hops: int = 0


def classify(world: World, records: Sequence[ConsumedRecord]) -> Traffic:
    inbound = {world.topics.inbound(p): p for p in world.topology.platforms}
    deliver = {world.topics.deliver(p) for p in world.topology.platforms}
    traffic = Traffic()
    for record in records:
        routing = headers.parse(record.headers)
        document = routing.kind == headers.DOCUMENT
        if routing.trace:  # produced by a router: one with_hop
            if document:
                traffic.document_hops += 1
            else:
                traffic.status_hops += 1
        if record.topic in inbound:
            platform_code = inbound[record.topic]
            (traffic.router_documents if document else traffic.router_statuses).append(
                (platform_code, record, routing))
        elif record.topic in deliver:
            (traffic.deliveries if document else traffic.tracked).append((record, routing))
        else:
            raise RuntimeError(f"unexpected topic {record.topic}")
    return traffic


# ---- timing ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Stage:
    group: str
    name: str
    ops_per_document: float
    run: Callable[[], int]
    """One pass over the stage's inputs; returns how many operations it did."""
    setup: Callable[[], None] | None = None
    """Untimed, before every pass."""


def _loop(fn: Callable[..., object], samples: Sequence[tuple[Any, ...]]) -> Callable[[], int]:
    def run() -> int:
        for args in samples:
            fn(*args)
        return len(samples)
    return run


class StageTimer:
    """Times one stage in rounds: each round is one sample of the stage's ns per op, over enough
    passes (untimed setup before each) to last ``min_sample_s``."""

    def __init__(self, stage: Stage, min_sample_s: float) -> None:
        self.stage = stage
        self.samples: list[float] = []
        self.ops = 0
        warm_ns, warm_ops = self._pass()  # the warm-up pass
        self.passes = max(1, math.ceil(min_sample_s * 1e9 / max(warm_ns, 1))) if warm_ops else 0

    def _pass(self) -> tuple[int, int]:
        if self.stage.setup is not None:
            self.stage.setup()
        start = time.perf_counter_ns()
        ops = self.stage.run()
        return time.perf_counter_ns() - start, ops

    def round(self) -> None:
        if not self.passes:
            return
        gc.collect()  # not the garbage of whatever ran before
        spent = ops = 0
        for _ in range(self.passes):
            elapsed, done = self._pass()
            spent += elapsed
            ops += done
        self.samples.append(spent / ops)
        self.ops += ops

    @property
    def median_ns(self) -> float:
        return statistics.median(self.samples) if self.samples else 0.0

    @property
    def best_ns(self) -> float:
        return min(self.samples) if self.samples else 0.0


class _Tracking:
    """on_status over the statuses in arrival order, on a tracker expecting the documents."""

    def __init__(self, topology: Topology, documents: Sequence[Document],
                 statuses: Sequence[StatusEvent]) -> None:
        self.topology = topology
        self.documents = documents
        self.statuses = statuses
        self.tracker = DeliveryTracker(topology, RunMetrics())

    def setup(self) -> None:
        self.tracker = DeliveryTracker(self.topology, RunMetrics())
        now = time.monotonic_ns()
        for document in self.documents:
            self.tracker.expect(document, now)

    def run(self) -> int:
        on_status = self.tracker.on_status
        now = time.monotonic_ns()
        for status in self.statuses:
            on_status(status, now)
        return len(self.statuses)

    def check(self) -> None:
        metrics = self.tracker.metrics
        if self.tracker.pending or sum(metrics.unexpected_statuses.values()):
            raise RuntimeError(f"the tracker replay went wrong: {self.tracker.pending} pending, "
                               f"unexpected {dict(metrics.unexpected_statuses)}")


def _status_value(topology: Topology, events: EventCodec, doc_id: str, sender: str,
                  recipient: str, code: StatusCode) -> tuple[bytes, headers.Headers]:
    """What ``RecipientAgents._send_status`` builds before handing the record to the producer."""
    status = StatusEvent(
        layer=StatusLayer.BUSINESS, from_code=recipient, document_id=doc_id,
        sender=sender, recipient=recipient, timestamp=dt.datetime.now(dt.UTC),
        status_code=code, reason=None, description="",
        staff_name="Văn thư", staff_department=topology.agencies[recipient].name)
    return (events.encode_status(status),
            headers.build(headers.STATUS, doc_id, recipient, (sender,)))


def build_stages(world: World, run: PipelineRun,
                 traffic: Traffic) -> tuple[list[Stage], _Tracking]:
    """Every stage with its real inputs and its operations per document, and the tracker replay
    (to check once timed)."""
    topology, events, verifier = world.topology, world.events, world.verifier
    n = len(run.documents)
    sender = _sender(world, None, RunMetrics(), lambda _d, _t: None)
    side_tracker = DeliveryTracker(topology, RunMetrics())
    date = vietnam_today()
    now = dt.datetime.now(dt.UTC)

    # the sender's work
    schemas = [sender.content_schema(d.sender) for d in run.documents]
    contents = [events.encode_content(d, s) for d, s in zip(run.documents, schemas, strict=True)]
    digests = [content_digest(c, s.id) for c, s in zip(contents, schemas, strict=True)]
    credentials: list[tuple[Credential, bytes, dt.datetime]] = []
    signed: list[tuple[Document, SignedDocument]] = []
    for document, schema, content, digest in zip(run.documents, schemas, contents, digests,
                                                 strict=True):
        personal, seal = sender.credentials(document.sender)
        credentials += [(personal, digest, now), (seal, digest, now)]
        signed.append((document, SignedDocument(
            schema.id, content, digest, sign(personal, digest, now), sign(seal, digest, now))))
    signatures = sum((s.personal_signature is not None) + (s.agency_signature is not None)
                     for _, s in signed)

    # routers: document packets
    def route_packet(code: str, to: tuple[str, ...], came_from: str | None) -> None:
        route_document(topology, code, to, came_from=came_from)

    packets = [(code, routing.to, routing.last_hop) for code, _, routing in
               traffic.router_documents]
    hops: list[tuple[headers.Routing, str, tuple[str, ...]]] = []
    for code, _, routing in traffic.router_documents:
        decision = route_document(topology, code, routing.to, came_from=routing.last_hop)
        hops += [(routing, code, (r,)) for r in decision.local]
        hops += [(routing, code, recipients) for _, recipients in decision.forward]
    if len(hops) != traffic.document_hops:
        raise RuntimeError(f"{len(hops)} document hops replayed, {traffic.document_hops} seen")

    # recipients: decode, integrity, verify, statuses
    delivered = [events.decode_signed(record.value or b"") for record, _ in traffic.deliveries]
    blocks: list[tuple[SignatureBlock, bytes, str, SignatureRole]] = []
    for (_, routing), event in zip(traffic.deliveries, delivered, strict=True):
        for block, role in ((event.personal_signature, SignatureRole.PERSONAL),
                            (event.agency_signature, SignatureRole.AGENCY)):
            if block is not None:
                blocks.append((block, event.content_digest, routing.from_code, role))

    def verify(block: SignatureBlock, digest: bytes, sender_code: str,
               role: SignatureRole) -> None:
        verifier.verify(block, digest, sender=sender_code, role=role)

    wall_us = time.time_ns() // 1000

    def recipient_metrics(routing: headers.Routing) -> None:
        route_of(topology, routing.from_code, routing.to[0])
        headers.hop_latencies(routing, wall_us, VDXP)

    statuses = [events.decode_status(record.value or b"") for record, _ in traffic.tracked]
    issued = [(topology, events, s.document_id, s.sender, s.recipient, s.status_code)
              for s in statuses]

    # routers: statuses
    def route_status_hop(code: str, routing: headers.Routing) -> None:
        route_status(topology, code, routing.to[0], came_from=routing.last_hop)

    def status_with_hop(code: str, routing: headers.Routing) -> None:
        headers.with_hop(routing, code, (routing.to[0],))

    tracking = _Tracking(topology, run.documents, statuses)
    deliveries = len(traffic.deliveries)
    per = 1 / n
    return [
        Stage("signing", f"sign ({world.algorithm.value}, personal + agency)", signatures * per,
              _loop(sign, credentials)),
        Stage("signing", "content_digest (SHA-256 of the content)", 1,
              _loop(content_digest, [(c, s.id) for c, s in zip(contents, schemas, strict=True)])),
        Stage("encoding", "AgencySender.compose (number the draft)", 1,
              _loop(sender.compose, [(d, date) for d in world.drafts])),
        Stage("encoding", "encode_content (Avro document)", 1,
              _loop(events.encode_content, list(zip(run.documents, schemas, strict=True)))),
        Stage("encoding", "envelope (encode_signed + headers.build)", 1,
              _loop(sender.envelope, signed)),
        Stage("routing", "headers.parse at a router (document packet)",
              len(packets) * per, _loop(headers.parse,
                                        [(r.headers,) for _, r, _ in traffic.router_documents])),
        Stage("routing", "route_document", len(packets) * per, _loop(route_packet, packets)),
        Stage("routing", "headers.with_hop (document)", len(hops) * per,
              _loop(headers.with_hop, hops)),
        Stage("decoding", "headers.parse at the recipient (document)", deliveries * per,
              _loop(headers.parse, [(r.headers,) for r, _ in traffic.deliveries])),
        Stage("decoding", "decode_signed (document event)", deliveries * per,
              _loop(events.decode_signed, [(r.value,) for r, _ in traffic.deliveries])),
        Stage("decoding", "check_digest (integrity)", deliveries * per,
              _loop(verifier.check_digest, [(e.content, e.content_schema_id, e.content_digest)
                                            for e in delivered])),
        Stage("decoding", "decode_content (Avro document)", deliveries * per,
              _loop(events.decode_content, [(e,) for e in delivered])),
        Stage("decoding", "route_of + hop_latencies (recipient metrics)", deliveries * per,
              _loop(recipient_metrics, [(routing,) for _, routing in traffic.deliveries])),
        Stage("verifying", f"SignatureVerifier.verify ({world.algorithm.value})",
              len(blocks) * per, _loop(verify, blocks)),
        Stage("statuses", "status at the recipient (StatusEvent + encode + headers)",
              len(issued) * per, _loop(_status_value, issued)),
        Stage("statuses", "headers.parse at a router (status)",
              len(traffic.router_statuses) * per,
              _loop(headers.parse, [(r.headers,) for _, r, _ in traffic.router_statuses])),
        Stage("statuses", "route_status", len(traffic.router_statuses) * per,
              _loop(route_status_hop, [(c, rt) for c, _, rt in traffic.router_statuses])),
        Stage("statuses", "headers.with_hop (status)", traffic.status_hops * per,
              _loop(status_with_hop, [(c, rt) for c, _, rt in traffic.router_statuses])),
        Stage("statuses", "headers.parse at the sender (status)", len(traffic.tracked) * per,
              _loop(headers.parse, [(r.headers,) for r, _ in traffic.tracked])),
        Stage("statuses", "decode_status", len(traffic.tracked) * per,
              _loop(events.decode_status, [(r.value,) for r, _ in traffic.tracked])),
        Stage("tracking", "DeliveryTracker.expect (per document)", 1,
              _loop(side_tracker.expect, [(d, 0) for d in run.documents])),
        Stage("tracking", "DeliveryTracker.on_status", len(statuses) * per, tracking.run,
              tracking.setup),
    ], tracking


# ---- the figure --------------------------------------------------------------------------------
def measure_stage_costs(sig_alg: str, fan_out: float, documents: int, *, seed: int = SEED,
                        rounds: int = ROUNDS, min_sample_s: float = 0.05) -> dict[str, Any]:
    """Per-document CPU of each stage and the documents/s bound it implies (see the module doc).

    After a warm-up, ``rounds`` rounds each time one pipeline pass and one sample of every stage,
    so a slow spell of the machine hits all of them alike; the figures are the medians. Runs its
    own event loop: from a coroutine, await ``measure_stage_costs_async`` instead."""
    return asyncio.run(measure_stage_costs_async(sig_alg, fan_out, documents, seed=seed,
                                                 rounds=rounds, min_sample_s=min_sample_s))


async def measure_stage_costs_async(sig_alg: str, fan_out: float, documents: int, *,
                                    seed: int = SEED, rounds: int = ROUNDS,
                                    min_sample_s: float = 0.05) -> dict[str, Any]:
    """``measure_stage_costs`` on the running event loop (it blocks the loop while it times)."""
    if documents < 1 or rounds < 1:
        raise ValueError("documents and rounds must be >= 1")
    world = build_world(sig_alg, fan_out, documents, seed)
    # the first pass warms what a long run has warm (schemas, the verifier's chain checks) and
    # gives the counts and the inputs of every stage
    run = await run_pipeline(world, world.drafts)
    stages, tracking = build_stages(world, run, classify(world, run.records))
    timers = [StageTimer(stage, min_sample_s) for stage in stages]
    pipeline_ns: list[int] = []
    for _ in range(rounds):
        gc.collect()
        pipeline_ns.append((await run_pipeline(world, world.drafts)).elapsed_ns)
        for timer in timers:
            timer.round()
    tracking.check()
    traffic = classify(world, run.records)
    n = len(run.documents)
    deliveries = len(traffic.deliveries)
    if n != documents or run.completed != deliveries:
        raise RuntimeError(f"{n} documents sent, {deliveries} delivered, {run.completed} "
                           "completed: the pipeline did not run the full lifecycle")
    rows = []
    best = 0.0
    for stage, timer in zip(stages, timers, strict=True):
        best += timer.best_ns / 1000 * stage.ops_per_document
        rows.append({"group": stage.group, "stage": stage.name,
                     "us_per_op": round(timer.median_ns / 1000, 3),
                     "ops_per_document": round(stage.ops_per_document, 4),
                     "us_per_document": round(timer.median_ns / 1000 * stage.ops_per_document,
                                              2),
                     "us_per_op_best_round": round(timer.best_ns / 1000, 3),
                     "ops_timed": timer.ops})
    total = sum(r["us_per_document"] for r in rows)
    groups: dict[str, float] = {}
    for r in rows:
        groups[r["group"]] = round(groups.get(r["group"], 0.0) + r["us_per_document"], 2)
    cores = os.cpu_count() or 1

    # what the pipeline did, per document and per delivery
    paths: Counter[tuple[str, int]] = Counter()
    for _, routing in traffic.deliveries:
        path = route_of(world.topology, routing.from_code, routing.to[0]).path
        paths[(path, len(routing.trace))] += 1
    status_hops = Counter(len(routing.trace) for _, routing in traffic.tracked)
    codes = Counter(s.status_code.value if s.status_code else "transport"
                    for s in (world.events.decode_status(r.value or b"")
                              for r, _ in traffic.tracked))
    document_records = sum(1 for r in run.records
                           if headers.parse(r.headers).kind == headers.DOCUMENT)
    whole_us = statistics.median(pipeline_ns) / 1000 / n
    whole_best_us = min(pipeline_ns) / 1000 / n
    return {
        "figure": "stage-cost bound",
        "host": platform.node(), "cores": cores, "python": platform.python_version(),
        "versions": {p: metadata.version(p) for p in ("cryptography", "fastavro", "aiokafka")},
        "sig_alg": world.algorithm.value, "fan_out_asked": fan_out, "seed": seed,
        "profiles": [*PROFILES, "central"], "documents": n, "deliveries": deliveries,
        "counts": {
            "fan_out": round(deliveries / n, 4),
            "signatures_per_document": round(stages[0].ops_per_document, 4),
            "records_per_document": round(len(run.records) / n, 4),
            "document_records_per_document": round(document_records / n, 4),
            "status_records_per_document": round((len(run.records) - document_records) / n, 4),
            "statuses_per_delivery": round(len(traffic.tracked) / deliveries, 4),
            "status_codes_per_delivery": {k: round(v / deliveries, 4)
                                          for k, v in sorted(codes.items())},
            "hops_per_delivery": round(sum(h * c for (_, h), c in paths.items()) / deliveries, 4),
            "deliveries_by_path_and_hops": {f"{p}/{h}": round(c / deliveries, 4)
                                            for (p, h), c in sorted(paths.items())},
            "local_share": round(sum(c for (p, _), c in paths.items() if p == LOCAL)
                                 / deliveries, 4),
            "status_hops_per_status": round(sum(h * c for h, c in status_hops.items())
                                            / max(len(traffic.tracked), 1), 4),
            "router_passes_per_document": {
                "document_packets": round(len(traffic.router_documents) / n, 4),
                "statuses": round(len(traffic.router_statuses) / n, 4)},
            "with_hop_per_document": {"documents": round(traffic.document_hops / n, 4),
                                      "statuses": round(traffic.status_hops / n, 4)},
        },
        "stages": rows,
        "groups_us_per_document": groups,
        "total_us_per_document": round(total, 2),
        "bound_documents_per_s_1_core": round(1e6 / total, 1),
        "bound_documents_per_s": round(cores * 1e6 / total, 1),
        "rounds": rounds,
        "best_rounds": {"total_us_per_document": round(best, 2),
                        "bound_documents_per_s": round(cores * 1e6 / best, 1)},
        "in_process_pipeline": {
            "what": "the same documents through the real handlers over an in-memory bus "
                    "(stage sum + asyncio, metrics and lifecycle-task glue; no Kafka client)",
            "us_per_document": round(whole_us, 2),
            "us_per_document_best_round": round(whole_best_us, 2),
            "us_per_document_by_round": [round(ns / 1000 / n, 1) for ns in pipeline_ns],
            "glue_us_per_document": round(whole_us - total, 2),
            "documents_per_s_1_core": round(1e6 / whole_us, 1),
            "documents_per_s": round(cores * 1e6 / whole_us, 1)},
        "not_included": NOT_INCLUDED,
        "reproduce": (f"python benchmarks/stage_cost.py --sig-alg {world.algorithm.value} "
                      f"--fan-out {fan_out:g} --documents {documents}"
                      + (f" --seed {seed}" if seed != SEED else "")
                      + (f" --rounds {rounds}" if rounds != ROUNDS else "")),
    }


def format_report(result: dict[str, Any]) -> str:
    c = result["counts"]
    paths = ", ".join(f"{k} {v:.0%}" for k, v in c["deliveries_by_path_and_hops"].items())
    codes = " ".join(f"{k}×{v:g}" for k, v in c["status_codes_per_delivery"].items())
    passes, with_hop = c["router_passes_per_document"], c["with_hop_per_document"]
    lines = [
        f"lgsp-sim stage-cost bound · {result['host']} · {result['cores']} cores · Python "
        f"{result['python']} · " + " ".join(f"{k} {v}" for k, v in result["versions"].items()),
        f"inputs: {result['documents']} documents (seed {result['seed']}, "
        f"{' + '.join(result['profiles'])}), fan-out {c['fan_out']:.2f} (asked "
        f"{result['fan_out_asked']:g}), {result['sig_alg']} personal + agency signatures",
        f"per document: {c['signatures_per_document']:g} signatures, 1 content + 1 event encode, "
        f"{c['fan_out']:.2f} deliveries × (1 decode + 2 verifies + {c['statuses_per_delivery']:g}"
        f" statuses: {codes})",
        f"records on the bus per document: {c['records_per_document']:.2f} "
        f"({c['document_records_per_document']:.2f} document, "
        f"{c['status_records_per_document']:.2f} status)",
        f"router passes per delivery (path/hops): {paths}; mean {c['hops_per_delivery']:.2f} "
        f"hops per delivery, {c['status_hops_per_status']:.2f} per status (the reverse route)",
        f"per document: router passes {passes['document_packets']:.2f} document packets (one "
        f"packet to VDXP for all remote recipients) + {passes['statuses']:.2f} statuses; "
        f"with_hop {with_hop['documents']:.2f} + {with_hop['statuses']:.2f}",
        "",
        f"{'stage':<60} {'µs/op':>9} {'ops/doc':>8} {'µs/doc':>9}",
    ]
    group = None
    for r in result["stages"]:
        if r["group"] != group:
            group = r["group"]
            lines.append(f"{group} ({result['groups_us_per_document'][group]:.1f} µs/doc)")
        lines.append(f"  {r['stage']:<58} {r['us_per_op']:>9.2f} {r['ops_per_document']:>8.2f} "
                     f"{r['us_per_document']:>9.1f}")
    whole = result["in_process_pipeline"]
    lines += [
        f"{'total CPU per document':<60} {'':>9} {'':>8} {result['total_us_per_document']:>9.1f}",
        "",
        f"stage-cost bound: {result['bound_documents_per_s_1_core']:.1f} documents/s on 1 core, "
        f"{result['bound_documents_per_s']:.1f} documents/s on {result['cores']} cores "
        "(os.cpu_count(), perfectly parallel); medians of "
        f"{result['rounds']} rounds — the best rounds give "
        f"{result['best_rounds']['total_us_per_document']:.1f} µs/document, "
        f"{result['best_rounds']['bound_documents_per_s']:.1f} documents/s",
        f"cross-check, in-process pipeline (real handlers, in-memory bus, no Kafka client): "
        f"{whole['us_per_document']:.1f} µs/document (best round "
        f"{whole['us_per_document_best_round']:.1f}; glue {whole['glue_us_per_document']:+.1f})"
        f" → {whole['documents_per_s_1_core']:.1f}/s on 1 core, "
        f"{whole['documents_per_s']:.1f}/s on {result['cores']}",
        f"not included: {result['not_included']} ({c['records_per_document']:.2f} records per "
        "document)",
        f"reproduce: {result['reproduce']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sig-alg", default="rsa2048", choices=[a.value for a in
                                                                  SignatureAlgorithm])
    parser.add_argument("--fan-out", type=float, default=3.0, help="mean recipients per document")
    parser.add_argument("--documents", type=int, default=300, help="documents used as inputs")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="timed rounds (medians kept)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON dict")
    args = parser.parse_args()
    configure_logging("console", "warning")
    figures = measure_stage_costs(args.sig_alg, args.fan_out, args.documents, seed=args.seed,
                                  rounds=args.rounds)
    print(json.dumps(figures, ensure_ascii=False, indent=2) if args.json
          else format_report(figures))
