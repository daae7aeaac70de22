"""The reference router (examples/reference_router), written from docs/contract.md §10 only,
routes as that section says.

The routing function is tested on hand-made records (each row of §10's table, statuses, the FAIL
status decoded with lgsp's own codec, every header kept, one trace entry appended, each
misbehaviour switch). One test runs the router as a subprocess on the test broker: the test
(which may import lgsp) writes records with aiokafka to the inbound topic and reads back exactly
what the router wrote. Every wait is bounded.
"""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from examples.reference_recipient import wire
from examples.reference_router.behaviour import Behaviour
from examples.reference_router.directory import Directory, Platform, platform_code, well_formed
from examples.reference_router.holes import HoleGuard
from examples.reference_router.route import Out, Record, Router
from lgsp.cli import app
from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry
from lgsp.domain.status import StatusLayer, TransportState
from lgsp.profiles import load_topology

ROOT = Path(__file__).resolve().parents[2]
ROUTER_DIR = ROOT / "examples" / "reference_router"
RUN = "r1"
NOW = 1_700_000_000_123_456
DOC_ID = "000.00.00.H56,2024/05/01,7/QĐ-UBND"
TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
VALUE = b"\x00\x00\x00\x00\x06" + bytes(range(40))  # never decoded: any bytes do
DIRECTORY = {
    "vdxp": {"unit": None, "agencies": ["000.00.00.G01", "000.00.00.G02"]},
    "lgsp-h56": {"unit": "H56", "agencies": ["000.00.00.H56", "000.00.01.H56",
                                             "000.00.02.H56"]},
    "lgsp-h26": {"unit": "H26", "agencies": ["000.00.00.H26", "000.00.01.H26"]},
}
READY_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
CLIENT = {"session.timeout.ms": 6000, "fetch.wait.max.ms": 10, "log.connection.close": False}


def test_the_router_imports_nothing_of_lgsp() -> None:
    forbidden = {"lgsp", "producers", "consumers", "aiokafka"}
    files = sorted(ROUTER_DIR.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"


# --- the routing function on hand-made records ------------------------------------------


@pytest.fixture(scope="module")
def events() -> EventCodec:
    return EventCodec(AvroCodec(FileSchemaRegistry()))


@pytest.fixture(scope="module")
def registry() -> wire.Registry:
    return wire.Registry()


def router(registry: wire.Registry, platform: str, **behaviour: object) -> Router:
    return Router(Platform(platform, Directory.from_json(DIRECTORY)), RUN, registry,
                  Behaviour(**behaviour))  # type: ignore[arg-type]


def document(to: str, *, sender: str = "000.00.00.H56", trace: tuple[str, ...] = (),
             topic: str = f"lgsp.{RUN}.lgsp-h56.inbound") -> Record:
    headers: list[tuple[str, bytes | None]] = [
        ("lgsp-kind", b"document"), ("lgsp-id", DOC_ID.encode()), ("lgsp-from", sender.encode()),
        ("lgsp-to", to.encode()), ("lgsp-sent", b"1700000000000001"),
        *[("lgsp-trace", entry.encode()) for entry in trace],
        ("lgsp-replay-of", "000.00.00.H56,2024/04/30,1/QĐ-UBND".encode()),
        ("lgsp-sim-fault", b"dropped-status"), ("traceparent", TRACEPARENT),
        ("tracestate", b"vendor=1"), ("x-unknown", b"\xff\x00kept"), ("x-null", None)]
    return Record(topic, 2, 41, DOC_ID.encode(), VALUE, tuple(headers))


def status(to: str, *, trace: tuple[str, ...] = (),
           topic: str = f"lgsp.{RUN}.lgsp-h56.inbound") -> Record:
    headers: list[tuple[str, bytes | None]] = [
        ("lgsp-kind", b"status"), ("lgsp-id", DOC_ID.encode()),
        ("lgsp-from", b"000.00.01.H26"), ("lgsp-to", to.encode()),
        *[("lgsp-trace", entry.encode()) for entry in trace], ("traceparent", TRACEPARENT)]
    return Record(topic, 0, 9, to.encode(), b"\x00\x00\x00\x00\x03status-bytes", tuple(headers))


def header(out: Out, name: str) -> str:
    values = [v for k, v in out.headers if k == name]
    assert len(values) == 1, (name, out.headers)
    assert values[0] is not None
    return values[0].decode()


def kept_then_traced(read: Record, out: Out, to: str, code: str) -> None:
    """Every header read, in order, ``lgsp-to`` replaced, and one trace entry appended."""
    expected = [(k, v if k != "lgsp-to" else to.encode()) for k, v in read.headers]
    assert list(out.headers) == [*expected, ("lgsp-trace", f"{code}@{NOW}".encode())]


def fail_status(out: Out, events: EventCodec) -> dict[str, object]:
    assert out.value is not None
    assert out.value[:5] == b"\x00\x00\x00\x00\x07"  # Confluent framing, schema id 7 (v2)
    s = events.decode_status(out.value)
    assert s.layer is StatusLayer.TRANSPORT
    assert s.transport_state is TransportState.FAIL
    assert s.status_code is None
    assert s.staff_name is None
    assert s.timestamp == dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=NOW)
    assert s.description
    return {"from": s.from_code, "id": s.document_id, "sender": s.sender,
            "recipient": s.recipient, "reason": s.reason}


def test_well_formed_codes() -> None:
    assert well_formed("000.00.01.H56")
    assert well_formed("123.45.67.G01")
    for bad in ("000.00.01.h56", "00.00.01.H56", "000.00.01.H5", "000.00.01.H566", "x",
                "000.00.01.H56 ", "000-00-01-H56", "٠٠٠.00.01.H56"):
        assert not well_formed(bad), bad


def test_the_directory_lgsp_topology_prints(registry: wire.Registry) -> None:
    """What ``lgsp topology --directory`` prints loads, its codes are well-formed, and the platform
    codes (upper-cased topic spellings) are those lgsp-sim names its platforms by."""
    topo = load_topology(["thanh-hoa", "hai-duong"])
    printed = CliRunner().invoke(app, ["topology", "-p", "thanh-hoa", "-p", "hai-duong",
                                       "--directory"])
    assert printed.exit_code == 0, printed.output
    directory = Directory.from_json(json.loads(printed.stdout))
    assert {platform_code(name) for name in directory.platforms()} == set(topo.platforms)
    assert directory.units == {"vdxp": None, "lgsp-h56": "H56", "lgsp-h26": "H26"}
    assert all(well_formed(code) for code in directory.home)
    for code, home in directory.home.items():
        unit = directory.units[home]
        assert unit is None or code.endswith(f".{unit}"), code
    h56 = Router(Platform("lgsp-h56", directory), RUN, registry)
    [out] = h56.route(document("000.00.00.H26,000.00.00.G01"), NOW)
    assert (out.topic, header(out, "lgsp-to")) == (f"lgsp.{RUN}.vdxp.inbound",
                                                   "000.00.00.H26,000.00.00.G01")


def test_lgsp_local_forwarded_and_failed(registry: wire.Registry, events: EventCodec) -> None:
    """Each LGSP row of §10's table in one document, in the order the recipients came."""
    to = ("000.00.01.H56,000.00.00.G01,not-a-code,000.00.99.H56,000.00.01.H26,000.00.02.H56,"
          "000.00.07.H99")
    read = document(to)
    outs = router(registry, "lgsp-h56").route(read, NOW)
    deliver, vdxp = f"lgsp.{RUN}.lgsp-h56.deliver", f"lgsp.{RUN}.vdxp.inbound"
    assert [(o.topic, o.key, o.what) for o in outs] == [
        (deliver, b"000.00.01.H56", "delivered"),
        (deliver, b"000.00.02.H56", "delivered"),
        (vdxp, DOC_ID.encode(), "forwarded"),
        (deliver, b"000.00.00.H56", "fail_status"),  # the sender is a member: delivered here
        (deliver, b"000.00.00.H56", "fail_status"),
    ]
    for out, code in zip(outs[:2], ["000.00.01.H56", "000.00.02.H56"], strict=True):
        assert out.value == VALUE
        kept_then_traced(read, out, code, "LGSP-H56")
    # one packet, the forwarded recipients in the order they came (an unknown unit goes too)
    kept_then_traced(read, outs[2], "000.00.00.G01,000.00.01.H26,000.00.07.H99", "LGSP-H56")
    assert outs[2].value == VALUE
    failed = [fail_status(o, events) for o in outs[3:]]
    assert failed == [
        {"from": "LGSP-H56", "id": DOC_ID, "sender": "000.00.00.H56", "recipient": "not-a-code",
         "reason": "unknown_recipient"},
        {"from": "LGSP-H56", "id": DOC_ID, "sender": "000.00.00.H56",
         "recipient": "000.00.99.H56", "reason": "unknown_recipient"},
    ]
    for out in outs[3:]:
        assert list(out.headers) == [
            ("lgsp-kind", b"status"), ("lgsp-id", DOC_ID.encode()), ("lgsp-from", b"LGSP-H56"),
            ("lgsp-to", b"000.00.00.H56"), ("lgsp-trace", f"LGSP-H56@{NOW}".encode()),
            ("traceparent", TRACEPARENT), ("tracestate", b"vendor=1")]


def test_lgsp_misrouted_when_the_axis_sent_it(registry: wire.Registry,
                                              events: EventCodec) -> None:
    trace = ("LGSP-H26@1700000000000002", "VDXP@1700000000000003")
    read = document("000.00.01.H56,000.00.01.H26,000.00.98.H56", sender="000.00.00.H26",
                    trace=trace)
    outs = router(registry, "LGSP-H56".lower()).route(read, NOW)
    assert [(o.topic, o.key, o.what) for o in outs] == [
        (f"lgsp.{RUN}.lgsp-h56.deliver", b"000.00.01.H56", "delivered"),
        (f"lgsp.{RUN}.vdxp.inbound", b"000.00.00.H26", "fail_status"),
        (f"lgsp.{RUN}.vdxp.inbound", b"000.00.00.H26", "fail_status"),
    ]
    kept_then_traced(read, outs[0], "000.00.01.H56", "LGSP-H56")
    assert [fail_status(o, events)["reason"] for o in outs[1:]] == ["misrouted",
                                                                    "unknown_recipient"]
    assert [fail_status(o, events)["recipient"] for o in outs[1:]] == ["000.00.01.H26",
                                                                       "000.00.98.H56"]
    for out in outs[1:]:  # the document's trace entries, then this platform's
        assert [v for k, v in out.headers if k == "lgsp-trace"] == [
            e.encode() for e in (*trace, f"LGSP-H56@{NOW}")]


def test_vdxp_local_one_packet_per_recipient_and_unknown(registry: wire.Registry,
                                                         events: EventCodec) -> None:
    trace = ("LGSP-H26@1700000000000002",)
    read = document("000.00.01.H56,000.00.00.G02,000.00.02.H56,000.00.77.H56,000.00.00.H26,"
                    "bad", sender="000.00.01.H26", trace=trace,
                    topic=f"lgsp.{RUN}.vdxp.inbound")
    outs = router(registry, "vdxp").route(read, NOW)
    h56, h26 = f"lgsp.{RUN}.lgsp-h56.inbound", f"lgsp.{RUN}.lgsp-h26.inbound"
    assert [(o.topic, o.key, header(o, "lgsp-to"), o.what) for o in outs] == [
        (f"lgsp.{RUN}.vdxp.deliver", b"000.00.00.G02", "000.00.00.G02", "delivered"),
        (h56, DOC_ID.encode(), "000.00.01.H56", "forwarded"),
        (h56, DOC_ID.encode(), "000.00.02.H56", "forwarded"),
        (h26, DOC_ID.encode(), "000.00.00.H26", "forwarded"),
        (h26, b"000.00.01.H26", "000.00.01.H26", "fail_status"),
        (h26, b"000.00.01.H26", "000.00.01.H26", "fail_status"),
    ]
    for out in outs[:4]:
        kept_then_traced(read, out, header(out, "lgsp-to"), "VDXP")
        assert out.value == VALUE
    assert [fail_status(o, events) for o in outs[4:]] == [
        {"from": "VDXP", "id": DOC_ID, "sender": "000.00.01.H26", "recipient": r,
         "reason": "unknown_recipient"} for r in ("000.00.77.H56", "bad")]


def test_statuses_go_on_towards_their_addressee(registry: wire.Registry) -> None:
    lgsp, vdxp = router(registry, "lgsp-h56"), router(registry, "vdxp")
    from_vdxp = ("LGSP-H26@1", "VDXP@2")
    cases = [
        (lgsp, status("000.00.00.H56", trace=from_vdxp), f"lgsp.{RUN}.lgsp-h56.deliver"),
        (lgsp, status("000.00.00.G01"), f"lgsp.{RUN}.vdxp.inbound"),
        (lgsp, status("000.00.00.H26", trace=("LGSP-H56@1",)), f"lgsp.{RUN}.vdxp.inbound"),
        (vdxp, status("000.00.00.G01", trace=("LGSP-H26@1",)), f"lgsp.{RUN}.vdxp.deliver"),
        (vdxp, status("000.00.02.H56", trace=("LGSP-H26@1",)), f"lgsp.{RUN}.lgsp-h56.inbound"),
    ]
    for each, read, topic in cases:
        [out] = each.route(read, NOW)
        assert (out.topic, out.key, out.value, out.what) == (
            topic, header(out, "lgsp-to").encode(), read.value, "status_passed_on")
        code = each.platform.code
        assert list(out.headers) == [*read.headers, ("lgsp-trace", f"{code}@{NOW}".encode())]


def test_statuses_that_cannot_go_on_are_dead_lettered(registry: wire.Registry,
                                                      events: EventCodec) -> None:
    cases = [(router(registry, "lgsp-h56"), status("000.00.00.H26", trace=("VDXP@2",)),
              "misrouted"),
             (router(registry, "vdxp"), status("000.00.09.H99",
                                               topic=f"lgsp.{RUN}.vdxp.inbound"),
              "unknown_recipient")]
    for each, read, reason in cases:
        [out] = each.route(read, NOW)
        assert (out.topic, out.key, out.what) == (f"lgsp.{RUN}.dead-letter", read.key,
                                                  "dead_letter")
        assert list(out.headers) == [("lgsp-reason", reason.encode())]
        assert out.value is not None
        assert out.value[:5] == b"\x00\x00\x00\x00\x04"
        letter = events.decode_dead_letter(out.value)
        assert letter["reason"] == reason
        assert letter["stage"] == f"router:{each.platform.code}"
        assert (letter["source_topic"], letter["source_partition"],
                letter["source_offset"]) == (read.topic, read.partition, read.offset)
        assert (letter["key"], letter["value"]) == (read.key, read.value)
        assert [(e["key"], e["value"]) for e in letter["headers"]] == list(read.headers)


@pytest.mark.parametrize("drop", ["lgsp-kind", "lgsp-id", "lgsp-from", "lgsp-to", "empty-to",
                                  "commas-only-to", "bad-kind"])
def test_a_record_missing_a_routing_header_is_dead_lettered(
        registry: wire.Registry, events: EventCodec, drop: str) -> None:
    read = document("000.00.01.H56")
    replaced = {"empty-to": ("lgsp-to", b""), "commas-only-to": ("lgsp-to", b" , ,"),
                "bad-kind": ("lgsp-kind", b"receipt")}
    name = replaced[drop][0] if drop in replaced else drop
    headers = tuple((k, v) for k, v in read.headers if k != name)
    if drop in replaced:
        headers = (replaced[drop], *headers)
    read = Record(read.topic, read.partition, read.offset, read.key, read.value, headers)
    [out] = router(registry, "lgsp-h56").route(read, NOW)
    assert (out.topic, out.key) == (f"lgsp.{RUN}.dead-letter", read.key)
    assert out.value is not None
    letter = events.decode_dead_letter(out.value)
    assert letter["reason"] == "missing_routing_headers"
    assert letter["value"] == VALUE


def test_a_rotated_generation_stays_in_its_generation(registry: wire.Registry) -> None:
    read = document("000.00.01.H56,000.00.00.G01,000.00.99.H56",
                    topic=f"lgsp.{RUN}.g3.lgsp-h56.inbound")
    outs = router(registry, "lgsp-h56").route(read, NOW)
    assert [o.topic for o in outs] == [f"lgsp.{RUN}.g3.lgsp-h56.deliver",
                                       f"lgsp.{RUN}.g3.vdxp.inbound",
                                       f"lgsp.{RUN}.g3.lgsp-h56.deliver"]


def test_each_switch_breaks_its_rule(registry: wire.Registry) -> None:
    to = "000.00.01.H56,000.00.00.G01,000.00.01.H26,000.00.99.H56"
    read = document(to)
    good = router(registry, "lgsp-h56").route(read, NOW)
    assert [o.what for o in good] == ["delivered", "forwarded", "fail_status"]

    lost = router(registry, "lgsp-h56", lose_share=1.0).route(read, NOW)
    assert lost == good[2:]  # copies and forwards dropped, the FAIL status kept
    assert router(registry, "lgsp-h56", duplicate_share=1.0).route(read, NOW) == \
        [good[0], good[0], good[1], good[1], good[2]]
    wrong = router(registry, "lgsp-h56", wrong_topic_share=1.0).route(read, NOW)
    assert wrong[0].topic == f"lgsp.{RUN}.vdxp.inbound"
    assert [o.headers for o in wrong] == [o.headers for o in good]
    wrong_at_vdxp = router(registry, "vdxp", wrong_topic_share=1.0).route(
        document("000.00.00.G01", topic=f"lgsp.{RUN}.vdxp.inbound"), NOW)
    assert [o.topic for o in wrong_at_vdxp] in ([f"lgsp.{RUN}.lgsp-h56.inbound"],
                                                [f"lgsp.{RUN}.lgsp-h26.inbound"])
    split = router(registry, "lgsp-h56", split_packets=True).route(read, NOW)
    assert [header(o, "lgsp-to") for o in split if o.what == "forwarded"] == \
        ["000.00.00.G01", "000.00.01.H26"]
    assert router(registry, "lgsp-h56", no_fail_status=True).route(read, NOW) == good[:2]
    untraced = router(registry, "lgsp-h56", no_trace=True).route(read, NOW)
    assert [[v for k, v in o.headers if k == "lgsp-trace"] for o in untraced] == [[], [], []]
    keyed = router(registry, "lgsp-h56", key_by_document=True).route(read, NOW)
    assert [o.key for o in keyed] == [DOC_ID.encode(), good[1].key, good[2].key]
    assert [o.headers for o in keyed] == [o.headers for o in good]


def test_shares_are_drawn_per_copy_and_seeded(registry: wire.Registry) -> None:
    read = document("000.00.01.H56")

    def kept(seed: int) -> list[int]:
        each = router(registry, "lgsp-h56", lose_share=0.5, seed=seed)
        return [len(each.route(read, NOW)) for _ in range(200)]

    assert kept(1) == kept(1)
    assert kept(1) != kept(2)
    assert 60 < sum(kept(1)) < 140


# --- against the real broker -------------------------------------------------------------


def topic(run: str, name: str) -> str:
    return f"lgsp.{run}.{name}"


def create_topics(bootstrap: str, run: str, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic(run, n), 3, 1) for n in names])
    for future in futures.values():
        future.result(30)


async def produce(bootstrap: str, records: list[tuple[str, bytes, bytes,
                                                      list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for name, key, value, headers in records:
            await asyncio.wait_for(producer.send_and_wait(name, value, key=key, headers=headers),
                                   30)
    finally:
        await producer.stop()


def read_back(bootstrap: str, names: list[str], count: int) -> list[dict[str, object]]:
    """``count`` records from ``names`` (every partition, from the start), then a quiet second
    to see that nothing more comes."""
    consumer = Consumer({"bootstrap.servers": bootstrap, **CLIENT,
                         "group.id": f"reader-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(n, p, -2) for n in names for p in range(3)])
    got: list[dict[str, object]] = []
    try:
        deadline = time.monotonic() + READ_TIMEOUT_S
        quiet_until = None
        while quiet_until is None or time.monotonic() < quiet_until:
            assert time.monotonic() < deadline, f"timed out: {len(got)} of {count}: {got}"
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                got.append({"topic": message.topic(), "key": message.key(),
                            "value": message.value(), "headers": list(message.headers() or [])})
            if len(got) >= count and quiet_until is None:
                quiet_until = time.monotonic() + 1.5
    finally:
        consumer.close()
    return got


@pytest.fixture
def router_process(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The router for LGSP-H56 of a fresh run, started before its inbound topic exists."""
    run = f"rr{uuid.uuid4().hex[:8]}"
    directory = tmp_path / "directory.json"
    directory.write_text(json.dumps(DIRECTORY), encoding="utf-8")
    ready, log_path = tmp_path / "ready", tmp_path / "router.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "examples.reference_router", "--bootstrap", kafka_bootstrap,
             "--run-id", run, "--platform", "LGSP-H56", "--directory", str(directory),
             "--ready-file", str(ready), "--no-supervise"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            time.sleep(1.0)  # it waits for the inbound topic
            assert proc.poll() is None, log_path.read_text()
            create_topics(kafka_bootstrap, run, ["lgsp-h56.inbound", "lgsp-h56.deliver",
                                                 "vdxp.inbound", "dead-letter"])
            deadline = time.monotonic() + READY_TIMEOUT_S
            while not ready.exists():
                assert proc.poll() is None, f"the router died: {log_path.read_text()}"
                assert time.monotonic() < deadline, f"not ready: {log_path.read_text()}"
                time.sleep(0.05)
            yield run, log_path
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=STOP_TIMEOUT_S) == 0, log_path.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    output = log_path.read_text()
    assert "summary:" in output, output


def test_the_router_routes_on_a_real_broker(kafka_bootstrap: str,
                                            router_process: tuple[str, Path],
                                            events: EventCodec) -> None:
    run, log_path = router_process
    inbound = topic(run, "lgsp-h56.inbound")
    doc_headers = [("lgsp-kind", b"document"), ("lgsp-id", DOC_ID.encode()),
                   ("lgsp-from", b"000.00.00.H56"),
                   ("lgsp-to", b"000.00.01.H56,000.00.00.G01,000.00.99.H56,000.00.01.H26"),
                   ("lgsp-sent", b"1700000000000001"), ("traceparent", TRACEPARENT)]
    status_headers = [("lgsp-kind", b"status"), ("lgsp-id", b"000.00.00.H26,2024/05/01,1/CV"),
                      ("lgsp-from", b"000.00.01.H56"), ("lgsp-to", b"000.00.00.H26")]
    back_headers = [("lgsp-kind", b"status"), ("lgsp-id", DOC_ID.encode()),
                    ("lgsp-from", b"000.00.00.G01"), ("lgsp-to", b"000.00.00.H56"),
                    ("lgsp-trace", b"VDXP@1700000000000009")]
    orphan = [("lgsp-kind", b"document"), ("lgsp-id", b"x")]
    asyncio.run(produce(kafka_bootstrap, [
        (inbound, DOC_ID.encode(), VALUE, doc_headers),
        (inbound, b"000.00.00.H26", b"status value", status_headers),
        (inbound, b"000.00.00.H56", b"back value", back_headers),
        (inbound, b"orphan", b"orphan value", orphan),
    ]))
    got = read_back(kafka_bootstrap, [topic(run, "lgsp-h56.deliver"),
                                      topic(run, "vdxp.inbound"), topic(run, "dead-letter")], 6)

    def summary(record: dict[str, object]) -> tuple[object, ...]:
        headers = record["headers"]
        assert isinstance(headers, list)
        to = [v for k, v in headers if k == "lgsp-to"]
        traces = [v for k, v in headers if k == "lgsp-trace"]
        return (record["topic"], record["key"], to, len(traces))

    deliver, vdxp = topic(run, "lgsp-h56.deliver"), topic(run, "vdxp.inbound")
    assert sorted(map(summary, got), key=repr) == sorted([
        (deliver, b"000.00.01.H56", [b"000.00.01.H56"], 1),
        (vdxp, DOC_ID.encode(), [b"000.00.00.G01,000.00.01.H26"], 1),
        (deliver, b"000.00.00.H56", [b"000.00.00.H56"], 1),  # the FAIL status
        (vdxp, b"000.00.00.H26", [b"000.00.00.H26"], 1),  # a status going on
        (deliver, b"000.00.00.H56", [b"000.00.00.H56"], 2),  # a status come back
        (topic(run, "dead-letter"), b"orphan", [], 0),
    ], key=repr)
    for read_headers, value in ((doc_headers, VALUE), (status_headers, b"status value"),
                                (back_headers, b"back value")):
        copies = [r for r in got if r["value"] == value]
        assert copies, value
        for copy in copies:  # value byte-identical, every header kept, one entry appended
            headers = copy["headers"]
            assert isinstance(headers, list)
            assert [(k, v) for k, v in headers[:-1] if k != "lgsp-to"] == \
                [(k, v) for k, v in read_headers if k != "lgsp-to"]
            name, entry = headers[-1]
            assert name == "lgsp-trace", headers
            assert entry.startswith(b"LGSP-H56@"), headers
            assert abs(int(entry.split(b"@")[1]) - time.time_ns() // 1000) < 120_000_000
    fails = [r for r in got if r["topic"] == deliver and r["key"] == b"000.00.00.H56"
             and r["value"] != b"back value"]
    assert len(fails) == 1
    value = fails[0]["value"]
    assert isinstance(value, bytes)
    s = events.decode_status(value)
    assert (s.layer, s.transport_state, s.from_code, s.document_id, s.sender, s.recipient,
            s.reason) == (StatusLayer.TRANSPORT, TransportState.FAIL, "LGSP-H56", DOC_ID,
                          "000.00.00.H56", "000.00.99.H56", "unknown_recipient")
    letter = next(r for r in got if r["topic"] == topic(run, "dead-letter"))
    assert isinstance(letter["value"], bytes)
    dead = events.decode_dead_letter(letter["value"])
    assert (dead["reason"], dead["source_topic"], dead["value"]) == (
        "missing_routing_headers", inbound, b"orphan value")

    # at least once: every offset read is committed once acknowledged
    deadline = time.monotonic() + READ_TIMEOUT_S
    group = Consumer({"bootstrap.servers": kafka_bootstrap, **CLIENT,
                      "group.id": f"refrouter.{run}.lgsp-h56"})
    try:
        while True:
            committed = group.committed([TopicPartition(inbound, p) for p in range(3)],
                                        timeout=10)
            ends = [group.get_watermark_offsets(TopicPartition(inbound, p), timeout=10)[1]
                    for p in range(3)]
            done = [max(c.offset, 0) for c in committed]
            if done == ends:
                break
            assert time.monotonic() < deadline, (done, ends)
            time.sleep(0.2)
    finally:
        group.close()
    assert "records routed" not in log_path.read_text()  # one line per 1000 only


def test_a_hole_is_read_again_not_stepped_over(kafka_bootstrap: str) -> None:
    """The embedded broker can answer a fetch at a partition's tail with a later batch: the guard
    hands on only what follows on, and seeks back so the hole is read again."""
    run = f"rh{uuid.uuid4().hex[:8]}"
    name = topic(run, "lgsp-h56.inbound")
    create_topics(kafka_bootstrap, run, ["lgsp-h56.inbound"])
    asyncio.run(produce(kafka_bootstrap, [(name, b"k", b"%d" % i, []) for i in range(5)]))
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, **CLIENT,
                         "group.id": f"holes-{uuid.uuid4().hex[:6]}", "enable.auto.commit": False})
    try:
        partitions = [TopicPartition(name, p) for p in range(3)]
        consumer.assign([TopicPartition(name, p, -2) for p in range(3)])
        guard = HoleGuard(consumer)
        guard.assigned(partitions)
        assert guard.expected == {(name, p): 0 for p in range(3)}

        def read(count: int) -> list[tuple[int, int]]:
            """(partition, offset) of the next ``count`` records."""
            got: list[tuple[int, int]] = []
            deadline = time.monotonic() + READ_TIMEOUT_S
            while len(got) < count:
                assert time.monotonic() < deadline, got
                got += [(m.partition() or 0, m.offset() or 0)
                        for m in consumer.consume(10, 0.2) if m.error() is None]
            return got

        first = read(5)
        (partition,) = {p for p, _ in first}  # one key: one partition
        where = (name, partition)
        assert sorted(o for _, o in first) == [0, 1, 2, 3, 4]
        guard.new_batch()
        as_if_holed = [0, 1, 3, 4]  # the broker skipped offset 2
        assert [o for o in as_if_holed if guard.take(*where, o)] == [0, 1]
        assert guard.holes == 1
        again = [o for _, o in read(3)]
        guard.new_batch()
        assert [o for o in again if guard.take(*where, o)] == [2, 3, 4]
        assert guard.expected[where] == 5
        # Apache Kafka's legitimate holes are stepped over once the patience is out
        guard.patience_s = 0.0
        guard.new_batch()
        assert guard.take(*where, 9)
        assert guard.expected[where] == 10
    finally:
        consumer.close()
