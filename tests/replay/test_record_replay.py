"""Record and replay on the real broker: fidelity, absolute-clock timing, no duplicates, filters,
corrupt files."""

from __future__ import annotations

import asyncio
import random
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from consumers.recorder import Recorder, RecordingLimits
from lgsp.bus.admin import create_topics
from lgsp.codec.capture import CaptureInfo, CaptureReader, CaptureWriter
from lgsp.config import BrokerConfig
from lgsp.errors import CaptureError
from producers.replayer import ReplayConfig, Replayer, ReplayFilter, ReplayResult, parse_speed
from tests.cli.test_cli import run
from tests.conftest import wait_for
from tests.e2e.helpers import simulation

pytestmark = pytest.mark.e2e


def topic_name(tag: str) -> str:
    return f"t.{tag}.{uuid.uuid4().hex[:8]}"


async def record(broker: BrokerConfig, topics: list[str], out: Path) -> list:
    await Recorder(broker=broker, topics=topics, out=out,
                   limits=RecordingLimits(until_end=True)).run()
    return list(CaptureReader(out))


async def produce_keyed(broker: BrokerConfig, topic: str, n: int) -> None:
    producer = AIOKafkaProducer(**broker.producer_kwargs())
    await producer.start()
    try:
        futures = []
        for i in range(n):
            key = f"agency-{i % 10}".encode()
            headers = [("lgsp-trace", b"A@1"), ("lgsp-trace", f"B@{i}".encode()),
                       ("n", str(i).encode())]
            value = b"\x00\x00\x00\x00\x02" + bytes([i % 256]) * (i % 50)
            futures.append(await producer.send(topic, value=value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def per_key(records) -> dict:
    out: dict = {}
    for r in records:
        out.setdefault(r.key, []).append((r.value, r.headers))
    return out


async def test_record_replay_record_is_identical(kafka_bootstrap, tmp_path):
    """Keys, values, headers (repeated ones too) and per-key order survive record → replay →
    record; partitions are kept when the target has the same count."""
    broker = BrokerConfig(bootstrap=kafka_bootstrap)
    source, target = topic_name("src"), topic_name("dst")
    await create_topics(broker, [source, target])
    await produce_keyed(broker, source, 300)
    first = await record(broker, [source], tmp_path / "first.cap")
    assert len(first) == 300
    replayer = Replayer(tmp_path / "first.cap", broker=broker,
                        config=ReplayConfig(speed=parse_speed("50x"), topic_map={source: target}))
    result = await replayer.run()
    assert result.sent == 300
    second = await record(broker, [target], tmp_path / "second.cap")
    assert per_key(second) == per_key(first)
    assert {(r.key, r.partition) for r in second} == {(r.key, r.partition) for r in first}


def write_capture(path: Path, timestamps: list[int]) -> None:
    with CaptureWriter(path, CaptureInfo("cap-timing", "test", {"t": 1})) as writer:
        for i, ts in enumerate(timestamps):
            writer.write(topic="t", partition=0, offset=i, timestamp_ms=ts, timestamp_type=0,
                         key=b"k", value=b"v%d" % i, headers=[])


async def test_ten_times_faster_keeps_time(kafka_bootstrap, tmp_path):
    """A 60 s capture with known gaps replays at 10× in 6 s: p99 timing error under 20 ms and
    total duration within 2 %."""
    rng = random.Random(5)
    timestamps, t = [], 1_700_000_000_000
    for i in range(400):
        t += 3000 if i % 97 == 0 else rng.randint(0, 290)
        timestamps.append(t)
    recorded_s = (timestamps[-1] - timestamps[0]) / 1000
    write_capture(tmp_path / "gaps.cap", timestamps)
    broker = BrokerConfig(bootstrap=kafka_bootstrap)
    replayer = Replayer(tmp_path / "gaps.cap", broker=broker,
                        config=ReplayConfig(speed=10.0, topic_map={"t": topic_name("timing")}))
    result = await replayer.run()
    assert result.sent == 400
    assert result.scheduled_duration_s == pytest.approx(recorded_s / 10, rel=1e-6)
    assert result.timing_error.percentile_us(99) < 20_000
    assert abs(result.actual_duration_s - result.scheduled_duration_s) \
        <= 0.02 * result.scheduled_duration_s


def test_max_gap_shortens_only_long_gaps(tmp_path):
    write_capture(tmp_path / "g.cap", [0, 100, 10_100, 10_200])
    replayer = Replayer(tmp_path / "g.cap", broker=None,
                        config=ReplayConfig(speed=1.0, max_gap_s=1.0))
    assert replayer.dry_run().scheduled_duration_s == pytest.approx(1.2)


@pytest.mark.parametrize(("text", "factor"), [("10", 10.0), ("10x", 10.0), ("50%", 0.5),
                                               ("0.25", 0.25)])
def test_speed_forms(text, factor):
    assert parse_speed(text) == factor


async def test_replaying_twice_creates_no_duplicates(kafka_bootstrap, pki_cache, run_id,
                                                     tmp_path):
    """Submissions replayed with new ids reach every recipient once; a second replay of the
    same capture sends nothing (the ledger), so recipients see no duplicate."""
    sim = simulation(kafka_bootstrap, pki_cache, run_id, profiles=("thanh-hoa",))
    drafts = [sim.traffic.draft() for _ in range(20)]
    await sim.start(drafts)
    try:
        await sim.send_load(drafts)
        await sim.settle()
        deliveries = sim.metrics.signing.verified_documents
        assert deliveries == sum(len(d.recipients) for d in drafts)
        capture = tmp_path / "run.cap"
        await Recorder(broker=sim.broker, topics=sim.topics.all_for(sim.topology.platforms),
                       out=capture, registry=sim.events.codec.registry,
                       limits=RecordingLimits(until_end=True)).run()
        config = ReplayConfig(speed=20.0, rewrite_ids=True)
        selection = ReplayFilter(submissions_only=True)
        first = await Replayer(capture, broker=sim.broker, config=config,
                               selection=selection).run()
        assert first.sent == 20
        await wait_for(lambda: sim.metrics.signing.verified_documents == 2 * deliveries,
                       what="replayed documents verified at every recipient")
        second = await Replayer(capture, broker=sim.broker, config=config,
                                selection=selection).run()
        assert (second.sent, second.skipped_already_replayed) == (0, 20)
        await asyncio.sleep(0.5)  # a wrong resend would arrive within a few fetch cycles
        assert sim.metrics.signing.verified_documents == 2 * deliveries
        assert sum(s.duplicates_absorbed for s in sim.metrics.routes.values()) == 0
        assert sim.metrics.signing.failures == {}
        assert sim.metrics.dead_letters == {}
    finally:
        await sim.stop()


async def test_filtered_replay_sends_exactly_the_matching_documents(kafka_bootstrap, pki_cache,
                                                                    run_id, tmp_path):
    sim = simulation(kafka_bootstrap, pki_cache, run_id, profiles=("thanh-hoa",))
    drafts = [sim.traffic.draft() for _ in range(40)]
    await sim.start(drafts)
    try:
        await sim.send_load(drafts)
        await sim.settle()
        capture = tmp_path / "run.cap"
        await Recorder(broker=sim.broker, topics=sim.topics.all_for(sim.topology.platforms),
                       out=capture, registry=sim.events.codec.registry,
                       limits=RecordingLimits(until_end=True)).run()
    finally:
        await sim.stop()
    communes = {d.sender for d in drafts if sim.topology.agencies[d.sender].tier == "commune"}
    expected = sum(1 for d in drafts if d.sender in communes)
    assert 0 < expected < len(drafts)
    target = topic_name("communes")
    broker = BrokerConfig(bootstrap=kafka_bootstrap)
    mapping = {t: target for t in sim.topics.all_for(sim.topology.platforms)}
    result = await Replayer(capture, broker=broker,
                            config=ReplayConfig(speed=50.0, topic_map=mapping),
                            selection=ReplayFilter(tiers=frozenset({"commune"}),
                                                   submissions_only=True),
                            topology=sim.topology).run()
    assert result.sent == expected
    sent = await record(broker, [target], tmp_path / "communes.cap")
    assert len(sent) == expected
    assert {r.header("lgsp-from").decode() for r in sent} <= communes


class TestCorruptCaptures:
    def test_truncated_file_names_the_record_index(self, tmp_path):
        write_capture(tmp_path / "c.cap", list(range(0, 5000, 5)))
        data = (tmp_path / "c.cap").read_bytes()
        (tmp_path / "t.cap").write_bytes(data[:-200])
        with pytest.raises(CaptureError, match=r"truncated or corrupt at record \d+"):
            list(CaptureReader(tmp_path / "t.cap"))

    def test_cli_refuses_a_corrupt_file_and_sends_nothing(self, kafka_bootstrap, tmp_path):
        """Exit 3 with the record index; the target topic stays empty; --skip-corrupt sends the
        intact part."""
        timestamps = list(range(0, 3000 * 5, 5))
        write_capture(tmp_path / "c.cap", timestamps)
        data = bytearray((tmp_path / "c.cap").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (tmp_path / "bad.cap").write_bytes(bytes(data))
        target = topic_name("corrupt")
        args = ["replay", str(tmp_path / "bad.cap"), "--bootstrap", kafka_bootstrap,
                "--speed", "1000", "--topic-map", f"t={target}", "--no-ledger"]
        r = run(args)
        assert r.returncode == 3, r.stderr
        assert "truncated or corrupt at record" in r.stderr
        r = run([*args, "--skip-corrupt", "--json"])
        assert r.returncode == 0, r.stderr
        import json

        sent = json.loads(r.stdout)["sent"]
        assert 0 < sent < 3000
        broker = BrokerConfig(bootstrap=kafka_bootstrap)
        assert len(asyncio.run(record(broker, [target], tmp_path / "check.cap"))) == sent

    def test_dry_run_predicts_without_a_broker(self, tmp_path):
        write_capture(tmp_path / "d.cap", [0, 1000, 2000])
        r = run(["replay", str(tmp_path / "d.cap"), "--dry-run", "--speed", "2x"])
        assert r.returncode == 0, r.stderr
        assert "would send 3 of 3 records" in r.stdout
        assert "scheduled duration 1.000 s (predicted)" in r.stdout


def test_interrupted_recording_is_readable_up_to_its_last_block(tmp_path):
    """A writer killed mid-block leaves the flushed blocks readable."""
    path = tmp_path / "i.cap"
    writer = CaptureWriter(path, CaptureInfo("cap", "test", {"t": 1}), flush_every=100)
    for i in range(250):
        writer.write(topic="t", partition=0, offset=i, timestamp_ms=i, timestamp_type=0,
                     key=None, value=b"x", headers=[])
    writer._file.close()
    assert [r.index for r in CaptureReader(path)] == list(range(200))



class TestLoops:
    def test_loop_needs_rewritten_ids(self, tmp_path):
        from lgsp.errors import ConfigError

        with pytest.raises(ConfigError, match="--rewrite-ids"):
            ReplayConfig(loops=2)

    def test_loops_follow_each_other_on_one_clock(self, tmp_path):
        write_capture(tmp_path / "l.cap", [0, 1000, 2000])
        replayer = Replayer(tmp_path / "l.cap", broker=None,
                            config=ReplayConfig(loops=3, rewrite_ids=True))
        result = replayer.dry_run()
        assert result.planned == 9
        assert result.scheduled_duration_s == pytest.approx(6.0)

    def test_rewritten_ids_are_consistent_and_distinct_per_loop(self, tmp_path):
        write_capture(tmp_path / "l.cap", [0])
        replayer = Replayer(tmp_path / "l.cap", broker=None,
                            config=ReplayConfig(loops=2, rewrite_ids=True))
        original = "000.00.00.H56,2023/01/01,1/UBND"
        assert replayer._new_id(original, 0) == replayer._new_id(original, 0)
        assert replayer._new_id(original, 0) != replayer._new_id(original, 1)
        assert replayer._new_id(original, 0).startswith(original + "~r")


def test_record_command_writes_a_capture(kafka_bootstrap, tmp_path):
    broker = BrokerConfig(bootstrap=kafka_bootstrap)
    topic = topic_name("cli")
    asyncio.run(create_topics(broker, [topic]))
    asyncio.run(produce_keyed(broker, topic, 50))
    out = tmp_path / "cli.cap"
    r = run(["record", "--bootstrap", kafka_bootstrap, "--topics", topic, "--out", str(out)])
    assert r.returncode == 0, r.stderr
    assert f"recorded 50 records from {topic}" in r.stdout
    assert len(list(CaptureReader(out))) == 50


async def test_recording_stops_at_exactly_count_records(kafka_bootstrap, tmp_path):
    broker = BrokerConfig(bootstrap=kafka_bootstrap)
    topic = topic_name("count")
    await create_topics(broker, [topic])
    await produce_keyed(broker, topic, 100)
    out = tmp_path / "n.cap"
    written = await Recorder(broker=broker, topics=[topic], out=out,
                             limits=RecordingLimits(count=7)).run()
    assert written == 7
    assert len(list(CaptureReader(out))) == 7


def test_interleaved_partitions_replay_on_the_recorded_timeline(tmp_path):
    """A capture writes partition 0 (t=0..9 s) then partition 1 (t=0..9 s): the replay lasts
    9 s, not 18 s, and each partition keeps its order."""
    with CaptureWriter(tmp_path / "p.cap", CaptureInfo("cap-p", "test", {"t": 2})) as writer:
        for partition, second in [(0, s) for s in range(10)] + [(1, s) for s in range(10)]:
            writer.write(topic="t", partition=partition, offset=second,
                         timestamp_ms=second * 1000, timestamp_type=0, key=None, value=b"x",
                         headers=[])
    replayer = Replayer(tmp_path / "p.cap", broker=None, config=ReplayConfig())
    result = ReplayResult()
    plan = replayer.plan(result)
    assert result.scheduled_duration_s == pytest.approx(9.0)
    for partition in (0, 1):
        offsets = [p.record.offset for p in plan if p.record.partition == partition]
        assert offsets == list(range(10))
    first_of_p1 = next(p for p in plan if p.record.partition == 1)
    assert first_of_p1.at_ms == 0


class TestReplayIntoOtherTopics:
    """The ledger is keyed by capture and destination topic; topics the replay creates keep
    the recorded partition count; what was skipped or not sent is said."""

    def _capture(self, path: Path) -> None:
        with CaptureWriter(path, CaptureInfo("cap-dest", "test", {"t": 3})) as writer:
            for i in range(30):
                writer.write(topic="t", partition=i % 3, offset=i // 3, timestamp_ms=i,
                             timestamp_type=0, key=f"k{i}".encode(), value=b"v", headers=[])

    def test_the_same_capture_into_fresh_topics_is_sent_again(self, kafka_bootstrap, tmp_path):
        self._capture(tmp_path / "d.cap")
        first, second = topic_name("dest1"), topic_name("dest2")
        base = ["replay", str(tmp_path / "d.cap"), "--bootstrap", kafka_bootstrap,
                "--speed", "1000", "--salt", uuid.uuid4().hex]
        r = run([*base, "--topic-map", f"t={first}"])
        assert r.returncode == 0, r.stderr
        assert "sent 30 of 30 records" in r.stdout, r.stdout
        r = run([*base, "--topic-map", f"t={first}"])
        assert r.returncode == 0, r.stderr
        assert "sent 0 of 30 records (0 filtered out, 30 already replayed)" in r.stdout
        assert "nothing was sent (everything had been replayed before" in r.stdout
        assert "actual" not in r.stdout, "no timing for a replay that sent nothing"
        r = run([*base, "--topic-map", f"t={second}"])
        assert r.returncode == 0, r.stderr
        assert "sent 30 of 30 records (0 filtered out, 0 already replayed)" in r.stdout

    def test_created_topics_keep_the_recorded_partitions(self, kafka_bootstrap, tmp_path):
        self._capture(tmp_path / "p.cap")
        target = topic_name("parts")
        r = run(["replay", str(tmp_path / "p.cap"), "--bootstrap", kafka_bootstrap,
                 "--speed", "1000", "--no-ledger", "--topic-map", f"t={target}"])
        assert r.returncode == 0, r.stderr
        records = asyncio.run(record(BrokerConfig(bootstrap=kafka_bootstrap), [target],
                                     tmp_path / "check.cap"))
        assert sorted((r.key, r.partition) for r in records) == sorted(
            (f"k{i}".encode(), i % 3) for i in range(30))

    def test_skipped_corrupt_blocks_are_said(self, tmp_path):
        timestamps = list(range(0, 3000 * 5, 5))
        write_capture(tmp_path / "c.cap", timestamps)
        data = bytearray((tmp_path / "c.cap").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (tmp_path / "bad.cap").write_bytes(bytes(data))
        r = run(["replay", str(tmp_path / "bad.cap"), "--dry-run", "--skip-corrupt"])
        assert r.returncode == 0, r.stderr
        assert "skipped 1 corrupt block(s) (--skip-corrupt)" in r.stdout, r.stdout
        r = run(["replay", str(tmp_path / "bad.cap"), "--dry-run", "--skip-corrupt", "--json"])
        import json

        data_out = json.loads(r.stdout)
        assert data_out["corrupt_blocks_skipped"] == 1
        assert data_out["records_unreadable"] + data_out["planned"] <= 3000


def test_simulate_record_says_where_the_capture_went(kafka_bootstrap, pki_cache, tmp_path):
    """``simulate --record`` names the capture file and how many records it holds."""
    capture = tmp_path / "said.cap"
    r = run(["simulate", "--bootstrap", kafka_bootstrap, "-n", "10", "-r", "40",
             "--sig-alg", "ed25519", "--pki-cache", str(pki_cache), "--record", str(capture),
             "--no-progress"])
    assert r.returncode == 0, r.stdout + r.stderr
    held = len(list(CaptureReader(capture)))
    assert f"capture written to {capture} ({held} records; play it back with lgsp replay" \
        in r.stdout, r.stdout
