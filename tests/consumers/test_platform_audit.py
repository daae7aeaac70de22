"""Grading an outside router (``--external platform=…``/``vdxp``): a router that follows the
contract's table fails no check; each way of breaking one rule fails exactly that check, with
the document as its example."""

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest

from consumers.platform_audit import PlatformAudit
from lgsp.bus import headers
from lgsp.bus.topics import TopicNames
from lgsp.codec import AvroCodec, EventCodec
from lgsp.codec.registry import FileSchemaRegistry
from lgsp.domain.status import StatusEvent, StatusLayer, TransportState
from lgsp.domain.topology import VDXP
from lgsp.metrics import RunMetrics
from lgsp.metrics.conformance_report import conformance_report
from lgsp.metrics.stages import Stage
from lgsp.profiles import load_topology

LGSP = "LGSP-H56"
OFFICE, DEPT_1, DEPT_2 = "000.00.00.H56", "000.00.01.H56", "000.00.02.H56"
CENTRAL = "000.00.00.G01"
ELSEWHERE = "000.00.00.H26"  # another province's office: not in this topology, unit H26
UNKNOWN_HERE = "000.99.99.H56"
TOPICS = TopicNames("audit")


@dataclasses.dataclass
class Record:
    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes | None]]
    timestamp_ms: int


@pytest.fixture(scope="module")
def topo():
    return load_topology(["thanh-hoa"])


@pytest.fixture(scope="module")
def events():
    return EventCodec(AvroCodec(FileSchemaRegistry()))


def submitted(doc: str, sender: str, to: tuple[str, ...], value: bytes = b"signed-bytes",
              platform: str = LGSP, trace: tuple[headers.TraceEntry, ...] = ()) -> Record:
    return Record(TOPICS.inbound(platform), doc.encode(), value,
                  headers.build(headers.DOCUMENT, doc, sender, to, trace=trace,
                                sent_us=1_000_000), 1_000)


def routed(record: Record, topic: str, to: tuple[str, ...], key: bytes | None, platform: str,
           *, trace: bool = True, at_ms: int = 1_012) -> Record:
    """What a conforming router writes for ``record``: same value and headers, new lgsp-to,
    its own trace entry."""
    routing = headers.parse(record.headers)
    entries = (*routing.trace, headers.TraceEntry(platform, at_ms * 1000)) if trace \
        else routing.trace
    return Record(topic, key, record.value,
                  headers.build(routing.kind, routing.document_id, routing.from_code, to,
                                entries, routing.replay_of, routing.sent_us, routing.fault),
                  at_ms)


def fail_status(events, record: Record, recipient: str, reason: str, topic: str,
                platform: str, *, key: bytes | None = None) -> Record:
    routing = headers.parse(record.headers)
    status = StatusEvent(layer=StatusLayer.TRANSPORT, from_code=platform,
                         document_id=routing.document_id, sender=routing.from_code,
                         recipient=recipient, timestamp=dt.datetime.now(dt.UTC),
                         transport_state=TransportState.FAIL, reason=reason,
                         description="cannot deliver")
    return Record(topic, key or routing.from_code.encode(), events.encode_status(status),
                  headers.build(headers.STATUS, routing.document_id, platform,
                                (routing.from_code,),
                                (*routing.trace, headers.TraceEntry(platform, 1_020_000))),
                  1_020)


def grade(topo, events, platform: str, records: list[Record]) -> tuple[dict, RunMetrics]:
    audit = PlatformAudit(platform, topo, TOPICS, events)
    audit.measure_from(0)
    for r in records:
        audit.see(r.topic, r.key, r.value, r.headers, r.timestamp_ms)
    metrics = audit.finish()
    section = conformance_report(metrics, duration_s=1.0, platforms=(platform,))
    assert section is not None
    (row,) = section["parties"]
    return row, metrics


def failed(row: dict) -> dict[str, int]:
    return {c["check"]: c["failures"] for c in row["checks"] if c["failures"]}


def lgsp_traffic(events, *, copy: Callable[..., Record] = routed,
                 split: bool = False) -> list[Record]:
    """An LGSP's inbound records and what a conforming router writes for them (``copy``: how
    each copy is made, to break one rule)."""
    local = submitted("D1", OFFICE, (DEPT_1, DEPT_2))
    mixed = submitted("D2", OFFICE, (DEPT_1, CENTRAL, ELSEWHERE), value=b"other-bytes")
    status_back = Record(TOPICS.inbound(LGSP), DEPT_1.encode(), b"status-bytes",
                         headers.build(headers.STATUS, "D0", DEPT_1, (OFFICE,)), 1_000)
    status_up = Record(TOPICS.inbound(LGSP), CENTRAL.encode(), b"status-up",
                       headers.build(headers.STATUS, "D9", DEPT_2, (CENTRAL,)), 1_000)
    out = [local, mixed, status_back, status_up,
           copy(local, TOPICS.deliver(LGSP), (DEPT_1,), DEPT_1.encode(), LGSP),
           copy(local, TOPICS.deliver(LGSP), (DEPT_2,), DEPT_2.encode(), LGSP),
           copy(mixed, TOPICS.deliver(LGSP), (DEPT_1,), DEPT_1.encode(), LGSP),
           copy(status_back, TOPICS.deliver(LGSP), (OFFICE,), OFFICE.encode(), LGSP),
           copy(status_up, TOPICS.inbound(VDXP), (CENTRAL,), CENTRAL.encode(), LGSP)]
    if split:
        out += [routed(mixed, TOPICS.inbound(VDXP), (r,), b"D2", LGSP)
                for r in (CENTRAL, ELSEWHERE)]
    else:
        out.append(copy(mixed, TOPICS.inbound(VDXP), (CENTRAL, ELSEWHERE), b"D2", LGSP))
    return out


def test_a_conforming_lgsp_router_passes_every_check_with_its_counts(topo, events):
    row, metrics = grade(topo, events, LGSP, lgsp_traffic(events))
    assert failed(row) == {}
    assert row["passed"]
    assert row["role"] == "platform"
    assert row["read"] == {"documents": 2, "statuses": 2, "unroutable": 0}
    assert row["written"] == {"document": 4, "status": 2, "fail_status": 0}
    assert {c["check"]: c["cases"] for c in row["checks"]} == {
        "copy_delivered": 6, "one_copy": 6, "right_destination": 6,
        "one_packet_per_destination": 1,  # D2's packet to the axis, for two recipients
        "unknown_recipient_failed": 0,    # not exercised: the report says so
        "trace_appended": 6, "record_intact": 6}
    hop = metrics.stages[Stage.EXTERNAL_HOP].summary_ms()
    assert hop["count"] == 6
    assert 11 <= hop["max"] <= 13


def test_a_lost_copy_fails_only_copy_delivered(topo, events):
    records = lgsp_traffic(events)
    lost = next(r for r in records if r.topic == TOPICS.deliver(LGSP) and r.key == DEPT_2.encode())
    records.remove(lost)
    row, _ = grade(topo, events, LGSP, records)
    assert failed(row) == {"copy_delivered": 1}
    example = row["checks"][0]["examples"][0]
    assert example == {"document_id": "D1", "recipient": DEPT_2,
                       "expected": f"document on {TOPICS.deliver(LGSP)}", "came": "nothing"}


def test_a_copy_written_twice_fails_only_one_copy(topo, events):
    records = lgsp_traffic(events)
    records.append(next(r for r in records if r.topic == TOPICS.inbound(VDXP)
                        and headers.parse(r.headers).kind == headers.DOCUMENT))
    row, _ = grade(topo, events, LGSP, records)
    assert failed(row) == {"one_copy": 1}


def test_a_local_copy_sent_to_the_axis_fails_only_right_destination(topo, events):
    records = lgsp_traffic(events)
    index = next(i for i, r in enumerate(records)
                 if r.topic == TOPICS.deliver(LGSP) and r.key == DEPT_2.encode())
    records[index] = dataclasses.replace(records[index], topic=TOPICS.inbound(VDXP))
    row, _ = grade(topo, events, LGSP, records)
    assert failed(row) == {"right_destination": 1}
    (example,) = next(c for c in row["checks"] if c["failures"])["examples"]
    assert example["expected"] == f"{TOPICS.deliver(LGSP)} to {DEPT_2}"
    assert example["came"] == f"{TOPICS.inbound(VDXP)} to {DEPT_2}"


def test_a_packet_split_per_recipient_fails_only_one_packet_per_destination(topo, events):
    row, _ = grade(topo, events, LGSP, lgsp_traffic(events, split=True))
    assert failed(row) == {"one_packet_per_destination": 1}


def test_copies_without_a_trace_entry_fail_only_trace_appended(topo, events):
    """Also on VDXP's inbound topic, which other parties write too: an untraced packet is
    still the router's when it is exactly what was due."""
    def untraced(record, topic, to, key, platform):
        return routed(record, topic, to, key, platform, trace=False)

    row, _ = grade(topo, events, LGSP, lgsp_traffic(events, copy=untraced))
    assert failed(row) == {"trace_appended": 6}
    assert row["written"]["document"] == 4
    assert row["written"]["status"] == 2


def test_copies_keyed_by_the_document_fail_only_record_intact(topo, events):
    def by_document(record, topic, to, key, platform):
        if topic == TOPICS.deliver(LGSP) and headers.parse(record.headers).kind == b"document":
            key = record.key
        return routed(record, topic, to, key, platform)

    row, _ = grade(topo, events, LGSP, lgsp_traffic(events, copy=by_document))
    assert failed(row) == {"record_intact": 3}  # once per copy: D1 to two, D2 to one


def test_changed_value_bytes_fail_only_record_intact(topo, events):
    records = lgsp_traffic(events)
    index = next(i for i, r in enumerate(records)
                 if r.topic == TOPICS.deliver(LGSP) and r.key == DEPT_1.encode()
                 and headers.parse(r.headers).document_id == "D1")
    records[index] = dataclasses.replace(records[index], value=b"re-encoded")
    row, _ = grade(topo, events, LGSP, records)
    assert failed(row) == {"record_intact": 1}


def test_vdxp_fails_an_unknown_recipient_back_to_the_sender(topo, events):
    """At the axis: one packet per recipient to its LGSP, central bodies delivered, an unknown
    code failed with a transport FAIL the sender's LGSP gets."""
    trace = (headers.TraceEntry(LGSP, 1_000_000),)
    packet = submitted("D3", OFFICE, (CENTRAL, DEPT_1, UNKNOWN_HERE.replace("H56", "H99")),
                       platform=VDXP, trace=trace)
    good = [packet,
            routed(packet, TOPICS.deliver(VDXP), (CENTRAL,), CENTRAL.encode(), VDXP),
            routed(packet, TOPICS.inbound(LGSP), (DEPT_1,), b"D3", VDXP)]
    fail = fail_status(events, packet, "000.99.99.H99", "unknown_recipient",
                       TOPICS.inbound(LGSP), VDXP)
    row, _ = grade(topo, events, VDXP, [*good, fail])
    assert failed(row) == {}
    assert row["written"] == {"document": 2, "status": 0, "fail_status": 1}
    row, _ = grade(topo, events, VDXP, good)
    assert failed(row) == {"unknown_recipient_failed": 1}
    example = next(c for c in row["checks"] if c["failures"])["examples"][0]
    assert example["recipient"] == "000.99.99.H99"
    assert example["came"] == "no FAIL status"
    wrong_reason = fail_status(events, packet, "000.99.99.H99", "misrouted",
                               TOPICS.inbound(LGSP), VDXP)
    row, _ = grade(topo, events, VDXP, [*good, wrong_reason])
    assert failed(row) == {"unknown_recipient_failed": 1}


def test_an_lgsp_fails_an_unknown_code_of_its_own_province(topo, events):
    record = submitted("D4", OFFICE, (DEPT_1, UNKNOWN_HERE))
    copy = routed(record, TOPICS.deliver(LGSP), (DEPT_1,), DEPT_1.encode(), LGSP)
    fail = fail_status(events, record, UNKNOWN_HERE, "unknown_recipient", TOPICS.deliver(LGSP),
                       LGSP, key=OFFICE.encode())
    row, _ = grade(topo, events, LGSP, [record, copy, fail])
    assert failed(row) == {}


def test_other_parties_records_on_a_shared_topic_are_not_the_routers(topo, events):
    """VDXP's inbound topic also carries central bodies' submissions and other LGSPs'
    packets: none of them is graded against this LGSP's router."""
    central = submitted("D5", CENTRAL, (DEPT_1,), platform=VDXP)
    other = submitted("D6", ELSEWHERE, (CENTRAL,), platform=VDXP,
                      trace=(headers.TraceEntry("LGSP-H26", 1),))
    row, _ = grade(topo, events, LGSP, [*lgsp_traffic(events), central, other])
    assert failed(row) == {}


def test_a_record_without_routing_headers_written_by_the_router_fails_record_intact(
        topo, events):
    records = lgsp_traffic(events)
    records.append(Record(TOPICS.deliver(LGSP), b"x", b"junk", [("lgsp-kind", b"document")],
                          1_500))
    row, _ = grade(topo, events, LGSP, records)
    assert failed(row) == {"record_intact": 1}


@pytest.mark.parametrize("order", ["as written", "outputs first"])
def test_the_grade_does_not_depend_on_which_topic_was_read_first(topo, events, order):
    """Fetches of different topics do not come in time order: a copy can be read before the
    record it was due for — also an untraced one on VDXP's shared inbound topic."""
    def untraced(record, topic, to, key, platform):
        return routed(record, topic, to, key, platform, trace=False)

    for copy, expected in ((routed, {}), (untraced, {"trace_appended": 6})):
        records = lgsp_traffic(events, copy=copy)
        if order == "outputs first":
            records = [r for r in records if r.topic != TOPICS.inbound(LGSP)] + \
                [r for r in records if r.topic == TOPICS.inbound(LGSP)]
        row, _ = grade(topo, events, LGSP, records)
        assert failed(row) == expected
        assert row["written"] == {"document": 4, "status": 2, "fail_status": 0}


def test_a_router_with_another_directory_is_told_so(topo, events):
    """VDXP given a directory without Thanh Hóa fails a Thanh Hóa recipient: the grade says the
    run's directory puts it elsewhere, and where to get the right one."""
    packet = submitted("D7", CENTRAL, (DEPT_1,), platform=VDXP)
    fail = fail_status(events, packet, DEPT_1, "unknown_recipient", TOPICS.deliver(VDXP), VDXP)
    row, _ = grade(topo, events, VDXP, [packet, fail])
    assert failed(row) == {"copy_delivered": 1, "right_destination": 1}
    (example,) = next(c for c in row["checks"] if c["check"] == "right_destination")["examples"]
    assert example["came"] == (
        f"a transport FAIL unknown_recipient for {DEPT_1}, whom the run's directory puts on "
        "LGSP-H56 (was the router's directory made with the run's --profile? `lgsp topology "
        "-p … --directory`)")
