"""A tracker fed from the bus (the senders' ledger + the statuses) on the real broker: a second
tracker that starts over from offset 0 — what a restarted tracker process does — rebuilds the
same figures, timed as the bus had them, not as it re-read them."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from consumers.tracker import DeliveryTracker
from consumers.tracker_checkpoint import TrackerCheckpoint
from consumers.tracker_feed import TrackerFeed
from lgsp.bus import headers
from lgsp.bus.admin import create_topics, delete_topics, end_offsets
from lgsp.bus.consume_loop import ConsumeLoop, DeadLetters
from lgsp.bus.ledger import LedgerEntry, LedgerKind, LedgerWriter
from lgsp.bus.producer import TrackingProducer
from lgsp.bus.topics import TopicNames
from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry
from lgsp.config import BrokerConfig
from lgsp.domain import StatusCode
from lgsp.domain.status import StatusEvent, StatusLayer
from lgsp.errors import DecodeError
from lgsp.faults import FaultKind
from lgsp.metrics.histogram import Histogram
from lgsp.metrics.run import RunMetrics
from lgsp.metrics.state import to_state
from lgsp.profiles import load_topology
from tests.conftest import wait_for

PLATFORM = "LGSP-H26"
DOCUMENTS = 30
REBUILD_AFTER_S = 1.5
"""The rebuild starts this long after the statuses were written: a rebuild that timed re-read
statuses by their second arrival would be off by at least that much."""


@dataclass(frozen=True)
class Sent:
    document_id: str
    sender: str
    recipients: tuple[str, ...]


def test_a_ledger_entry_survives_the_round_trip():
    entry = LedgerEntry(7, LedgerKind.EXPECT, "000.00.00.H56,2026/11/22,1/UBND", "000.00.00.H56",
                        ("000.00.01.H56", "000.00.02.H56"), 123, FaultKind.BAD_SIGNATURE,
                        ("000.00.01.H56",))
    assert LedgerEntry.decode(entry.encode()) == entry


@pytest.mark.parametrize("raw", [b"", b"{}", b"[1]", b'{"seq": 1, "kind": "gossip"}',
                                 b'{"seq": "x", "kind": "end"}', b"\xff"])
def test_anything_else_is_a_decode_error(raw):
    with pytest.raises(DecodeError, match="not a ledger entry"):
        LedgerEntry.decode(raw)


@pytest.fixture
async def bus(kafka_bootstrap, run_id):
    broker = BrokerConfig(bootstrap=kafka_bootstrap, partitions=2)
    topics = TopicNames(run_id)
    names = [topics.ledger, topics.deliver(PLATFORM), topics.dead_letter]
    await create_topics(broker, names)
    yield broker, topics
    await delete_topics(broker, names)


def _status(events: EventCodec, sent: Sent, recipient: str, code: StatusCode,
            reason: str | None = None) -> tuple[bytes, list[tuple[str, bytes]]]:
    status = StatusEvent(StatusLayer.BUSINESS, recipient, sent.document_id, sent.sender, recipient,
                         dt.datetime.now(dt.UTC), status_code=code, reason=reason)
    return (events.encode_status(status),
            headers.build(headers.STATUS, sent.document_id, recipient, [sent.sender]))


class Follower:
    """A tracker + feed reading the ledger and the deliver topic from offset 0, or from a
    checkpoint (never commits) — what a tracker process does."""

    def __init__(self, broker: BrokerConfig, topics: TopicNames, producer: AIOKafkaProducer,
                 events: EventCodec, checkpoint: Path | None = None) -> None:
        topology = load_topology(["hai-duong"])
        self.broker = broker
        self.metrics = RunMetrics()
        self.tracker = DeliveryTracker(topology, self.metrics, ack_timeout_s=0.5)
        self.feed = TrackerFeed(self.tracker, events, ledger_topic=topics.ledger,
                                ledger_partitions=[0, 1])
        self.restored = checkpoint is not None and TrackerCheckpoint(
            checkpoint, self.tracker, self.feed).load()
        self.topics = [topics.ledger, topics.deliver(PLATFORM)]
        self.loop = ConsumeLoop(name="tracker", broker=broker, topic=self.topics,
                                group=topics.group("tracker", "test"), handler=self.feed.handle,
                                dead_letters=DeadLetters(producer, topics.dead_letter, events,
                                                         self.metrics),
                                partitions=[0, 1], commit=False, start=self.feed.positions)

    async def rebuild(self) -> None:
        """Start over (a restarted tracker) and follow until every lifecycle ended."""
        self.feed.replay_from(await end_offsets(self.broker, self.topics, [0, 1]))
        assert self.feed.catching_up
        await self.loop.start()
        try:
            deadline = time.monotonic() + 30
            while self.feed.catching_up or self.tracker.pending:
                if not self.feed.catching_up:  # what Simulation.sweep does: nothing may be
                    self.tracker.sweep()       # declared lost while replaying
                assert time.monotonic() < deadline, "the rebuild did not catch up in 30 s"
                await asyncio.sleep(0.01)
            self.tracker.finish()
            self.feed.finish()
        finally:
            await self.loop.stop()


async def test_a_tracker_started_over_rebuilds_the_same_figures(bus, tmp_path):
    broker, topics = bus
    events = EventCodec(AvroCodec(FileSchemaRegistry()))
    topology = load_topology(["hai-duong"])
    agencies = sorted(a for a in topology.agencies if topology.platform_of(a) == PLATFORM)[:4]
    sender, recipients = agencies[0], tuple(agencies[1:])
    documents = [Sent(f"{sender},2026/11/22,{n}/UBND", sender, recipients)
                 for n in range(1, DOCUMENTS + 1)]
    producer = TrackingProducer.for_broker(broker)
    await producer.start()
    live = Follower(broker, topics, producer, events)
    await live.loop.start()
    writer = LedgerWriter(producer, topics.ledger, [0, 1])
    writer.start()
    statuses = 0
    try:
        deliver = topics.deliver(PLATFORM)
        # the first document's 01s come before its ledger entry: they wait for it
        early = documents[0]
        for recipient in early.recipients:
            value, hdrs = _status(events, early, recipient, StatusCode.ARRIVED)
            await (await producer.send(deliver, value, key=sender.encode(), headers=hdrs))
            statuses += 1
        for index, sent in enumerate(documents):
            writer.expect(sent, time.monotonic_ns())
            if index == 1:  # its first recipient must reject it (a bad signature)
                writer.injected(sent, FaultKind.BAD_SIGNATURE, recipients[:1])
            if index == DOCUMENTS // 2:  # the live tracker saves a checkpoint, wherever it is
                await wait_for(lambda: sum(r.delivered for r in live.metrics.routes.values())
                               >= 10, timeout_s=30, what="the live tracker to see some 01s")
                TrackerCheckpoint(tmp_path / "tracker.json", live.tracker, live.feed).save()
            await asyncio.sleep(0.01)
            for recipient in sent.recipients:
                codes = [StatusCode.ARRIVED, StatusCode.REGISTERED, StatusCode.ASSIGNED,
                         StatusCode.COMPLETED]
                if index == 0:
                    codes = codes[1:]  # 01 already on the bus
                if index == 1 and recipient == recipients[0]:
                    codes = [StatusCode.ARRIVED, StatusCode.REJECTED]
                for code in codes:
                    value, hdrs = _status(events, sent, recipient, code,
                                          "signature_invalid" if code is StatusCode.REJECTED
                                          else None)
                    await producer.send(deliver, value, key=sender.encode(), headers=hdrs)
                    statuses += 1
        await writer.close()
        # a batch the producer retried after a lost acknowledgement: the same entry again
        again = LedgerEntry(1, LedgerKind.EXPECT, early.document_id, sender, recipients,
                            time.monotonic_ns())
        await (await producer.send(topics.ledger, again.encode(), key=sender.encode()))
        await producer.flush()
        await wait_for(lambda: live.feed.senders_done and not live.tracker.pending,
                       timeout_s=30, what="the live tracker to see every lifecycle end")
        live.tracker.finish()
        live.feed.finish()

        await asyncio.sleep(REBUILD_AFTER_S)
        rebuilt = Follower(broker, topics, producer, events)
        await rebuilt.rebuild()
        resumed = Follower(broker, topics, producer, events, checkpoint=tmp_path / "tracker.json")
        assert resumed.restored
        await resumed.rebuild()
    finally:
        await live.loop.stop()
        await writer.close(end=False)
        await producer.stop()

    deliveries = DOCUMENTS * len(recipients)
    for follower in (live, rebuilt, resumed):  # the resumed one: also live up to the checkpoint
        routes = list(follower.metrics.routes.values())
        assert sum(r.sent for r in routes) == deliveries
        assert sum(r.delivered for r in routes) == deliveries
        assert sum(r.completed for r in routes) == deliveries - 1
        assert sum(r.rejected for r in routes) == 1
        assert sum(r.lost + r.incomplete for r in routes) == 0
        assert dict(follower.metrics.faults_injected) == {"bad-signature": 1}
        assert sum(follower.metrics.faults_detected.values()) == 1
        assert not follower.metrics.false_positives
        assert not follower.metrics.unexpected_statuses
        assert follower.feed.ledger_duplicates == 1
    assert rebuilt.feed.replayed == statuses  # every status timed as written, none as re-read
    assert 0 < resumed.feed.replayed < statuses  # from the checkpoint: only the tail
    assert _counts(resumed) == _counts(rebuilt) == _counts(live)
    assert sum(h.count for h in _arrivals(rebuilt)) == deliveries  # each 01 timed once
    live_ms = [h.max_us / 1000 for h in _arrivals(live)]
    rebuilt_ms = [h.max_us / 1000 for h in _arrivals(rebuilt)]
    # timed by the records' own (ms) timestamps, not by the rebuild 1.5 s later: the same
    # figures as the live tracker's, within the few ms between writing and reading a status
    assert abs(max(rebuilt_ms) - max(live_ms)) < 100, (live_ms, rebuilt_ms)
    live_p50 = [h.percentile_us(50) / 1000 for h in _arrivals(live)]
    rebuilt_p50 = [h.percentile_us(50) / 1000 for h in _arrivals(rebuilt)]
    assert abs(rebuilt_p50[0] - live_p50[0]) < 50, (live_p50, rebuilt_p50)


def _counts(follower: Follower) -> list[dict[str, Any]]:
    """Every route's counters (latency histograms left out: those differ by the few ms between
    writing and reading a status)."""
    return [{k: v for k, v in route["stats"].items() if not k.startswith("send_to_")}
            for route in to_state(follower.metrics)["routes"]]


def _arrivals(follower: Follower) -> list[Histogram]:
    return [r.send_to_arrived for r in follower.metrics.routes.values() if r.delivered]
