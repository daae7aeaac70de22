"""A document's journey as an OpenTelemetry trace (``--otlp-endpoint``), on the real broker: one
trace per document, a span per hop and per status, correctly parented; no header without it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from lgsp.bus import headers
from lgsp.bus.admin import topic_partitions
from lgsp.bus.tracing import NO_TRACING, OtelTracing
from lgsp.config import BrokerConfig
from lgsp.domain.topology import VDXP
from lgsp.faults import FaultPlan
from lgsp.run import Simulation
from tests.e2e.helpers import simulation

pytestmark = pytest.mark.e2e

DOCUMENTS = 12
READ_TIMEOUT_S = 30.0


async def _records(sim: Simulation) -> list[Any]:
    """Every document and status record the run left on its topics (kept with keep_topics)."""
    # partitions from an all-topics request: Apache Kafka's consumer knows no topic's
    # partitions until it names one (see README "Brokers")
    existing = await topic_partitions(sim.broker, sim.run_plan.bus_topics())
    consumer = AIOKafkaConsumer(**sim.broker.consumer_kwargs(None))
    await consumer.start()
    try:
        wanted = [TopicPartition(t, p) for t, parts in existing.items() for p in parts]
        consumer.assign(wanted)
        await consumer.seek_to_beginning(*wanted)
        ends = await consumer.end_offsets(wanted)
        found: list[Any] = []
        async with asyncio.timeout(READ_TIMEOUT_S):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                batch = await consumer.getmany(timeout_ms=500)
                found += [r for records in batch.values() for r in records]
        return [r for r in found if any(k == headers.KIND for k, _ in r.headers)]
    finally:
        await consumer.stop()


def _run(bootstrap: str, keys: Any, tracing: OtelTracing | None, **settings: Any
         ) -> tuple[dict[str, Any], list[Any], Simulation]:
    config = simulation(bootstrap, keys, f"t{uuid.uuid4().hex[:10]}", documents=DOCUMENTS,
                        rate=60.0, keep_topics=True, **settings).config
    sim = Simulation(config, BrokerConfig(bootstrap=bootstrap), tracing=tracing)
    report = asyncio.run(sim.run())
    return report, asyncio.run(_records(sim)), sim


@pytest.fixture(scope="module")
def traced(kafka_bootstrap, tmp_path_factory):
    exporter = InMemorySpanExporter()
    report, records, sim = _run(kafka_bootstrap, tmp_path_factory.mktemp("keys"),
                                OtelTracing(exporter, batch=False))
    return report, records, sim, list(exporter.get_finished_spans())


@pytest.fixture(scope="module")
def untraced(kafka_bootstrap, tmp_path_factory):
    report, records, sim = _run(kafka_bootstrap, tmp_path_factory.mktemp("keys"), None)
    return report, records, sim


@pytest.fixture
def collector() -> Iterator[tuple[str, list[bytes]]]:
    """A stand-in OTLP/HTTP collector on a free port: (its URL, the bodies POSTed to
    /v1/traces)."""
    bodies: list[bytes] = []

    class Receive(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                bodies.append(body)
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receive)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _route(sim: Simulation, sender: str, recipient: str) -> list[str]:
    """The platforms a document passes, in order."""
    home, there = sim.topology.agency(sender).platform, sim.topology.platform_of(recipient)
    if home == there:
        return [home]
    return [home, there] if VDXP in (home, there) else [home, VDXP, there]


def _path(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    """The span's ancestors from the root down to the span itself."""
    chain = [span]
    while chain[0].parent is not None:
        chain.insert(0, by_id[chain[0].parent.span_id])
    return chain


class TestDocumentTrace:
    def test_the_traced_run_completes_every_delivery(self, traced):
        """Tracing changes no outcome: every delivery made and completed."""
        t = traced[0]["totals"]
        assert t["documents"] == DOCUMENTS
        assert t["sent"] == t["delivered"] == t["completed"] > 0
        assert (t["lost"], t["rejected"], t["dead_letters"]) == (0, 0, 0)

    def test_each_document_is_one_trace_rooted_at_its_submit(self, traced):
        """One root span per document: PRODUCER ``send`` of its sender; all its spans share the
        root's trace."""
        spans = traced[3]
        roots = [s for s in spans if s.parent is None]
        assert len(roots) == DOCUMENTS
        assert all(s.kind is SpanKind.PRODUCER and s.name.startswith("send ") for s in roots)
        trace_of = {s.attributes["lgsp.document_id"]: s.context.trace_id for s in roots}
        assert len(set(trace_of.values())) == DOCUMENTS
        for span in spans:
            assert span.context.trace_id == trace_of[span.attributes["lgsp.document_id"]], span.name
            assert span.attributes["messaging.system"] == "kafka"

    def test_a_span_per_hop_and_per_status_correctly_parented(self, traced):
        """Submit → each platform hop (route order) → delivery → statuses 01, 03, 04, 05, 06,
        each followed by its hops back (reverse route) to the sender's tracker."""
        _report, _records, sim, spans = traced
        by_id = {s.context.span_id: s for s in spans}
        deliveries = [s for s in spans if s.kind is SpanKind.CONSUMER
                      and "lgsp.status" not in s.attributes
                      and s.attributes["lgsp.actor"] not in sim.topology.platforms]
        assert len(deliveries) == traced[0]["totals"]["sent"]
        children: dict[int, list[ReadableSpan]] = defaultdict(list)
        for span in spans:
            if span.parent is not None:
                children[span.parent.span_id].append(span)
        for delivery in deliveries:
            path = _path(delivery, by_id)
            root = path[0]
            sender, recipient = root.attributes["lgsp.actor"], delivery.attributes["lgsp.actor"]
            route = _route(sim, sender, recipient)
            assert [s.attributes["lgsp.actor"] for s in path[1:-1]] == route, path
            assert all(s.kind is SpanKind.CONSUMER and s.name.startswith("process ")
                       for s in path[1:])
            assert delivery.attributes["messaging.destination.name"] == \
                sim.topics.deliver(route[-1])
            statuses = sorted(children[delivery.context.span_id],
                              key=lambda s: s.start_time or 0)
            assert [s.attributes["lgsp.status"] for s in statuses] == \
                ["01", "03", "04", "05", "06"]
            for status in statuses:
                assert status.kind is SpanKind.PRODUCER
                assert status.attributes["messaging.operation.type"] == "send"
                back = [status]
                while children[back[-1].context.span_id]:
                    (nxt,) = children[back[-1].context.span_id]
                    back.append(nxt)
                tracker = back[-1]
                assert tracker.attributes["lgsp.status"] == status.attributes["lgsp.status"]
                assert tracker.attributes["lgsp.actor"] == sender
                assert [s.attributes["lgsp.actor"] for s in back[1:-1]] == route[::-1]

    def test_every_record_a_document_causes_carries_its_traceparent(self, traced):
        """Documents, forwards, deliveries and statuses: each record's traceparent is of its
        document's trace and names a span that was exported."""
        _report, records, _sim, spans = traced
        span_ids = {f"{s.context.span_id:016x}" for s in spans}
        trace_of = {s.attributes["lgsp.document_id"]: f"{s.context.trace_id:032x}"
                    for s in spans if s.parent is None}
        assert records
        for record in records:
            routing = headers.parse(record.headers)
            assert routing.context is not None, record.topic
            _version, trace_id, span_id, _flags = routing.context.traceparent.decode().split("-")
            assert trace_id == trace_of[routing.document_id]
            assert span_id in span_ids


class TestPlatformStatus:
    def test_a_transport_fail_is_a_span_of_the_platform_that_issues_it(
            self, kafka_bootstrap, tmp_path):
        """A document for an unknown recipient: the home platform's hop span has a child
        PRODUCER span ``FAIL``, whose hops back end at the sender's receipt of FAIL."""
        exporter = InMemorySpanExporter()
        report, _records, sim = _run(kafka_bootstrap, tmp_path, OtelTracing(exporter, batch=False),
                                     faults=FaultPlan.parse(["unknown-recipient=100%"]))
        spans = list(exporter.get_finished_spans())
        by_id = {s.context.span_id: s for s in spans}
        fails = [s for s in spans if s.attributes.get("lgsp.status") == "FAIL"
                 and s.kind is SpanKind.PRODUCER]
        assert len(fails) == DOCUMENTS, report["totals"]
        receipts = [s for s in spans if s.attributes.get("lgsp.status") == "FAIL"
                    and s.kind is SpanKind.CONSUMER]
        assert len(receipts) == DOCUMENTS
        for fail in fails:
            root, *hops, _ = _path(fail, by_id)
            assert hops[0].attributes["lgsp.actor"] == \
                sim.topology.agency(root.attributes["lgsp.actor"]).platform
            assert all(h.kind is SpanKind.CONSUMER for h in hops)
            assert hops[-1].attributes["lgsp.actor"] == fail.attributes["lgsp.actor"]
        for receipt in receipts:
            path = _path(receipt, by_id)
            assert [s for s in path if s.kind is SpanKind.PRODUCER and s.parent] in (
                [f] for f in fails)
            assert receipt.attributes["lgsp.actor"] == path[0].attributes["lgsp.actor"]


class TestWithoutTracing:
    def test_no_record_carries_a_traceparent(self, untraced):
        """Without --otlp-endpoint no record of the run has a traceparent or tracestate."""
        report, records, _sim = untraced
        assert report["totals"]["completed"] == report["totals"]["sent"] > 0
        assert len(records) > DOCUMENTS
        carrying = [r.topic for r in records
                    if any(k in (headers.TRACEPARENT, headers.TRACESTATE) for k, _ in r.headers)]
        assert carrying == []

    def test_no_span_is_made_and_opentelemetry_is_not_loaded(self, untraced):
        """Every component of an untraced run holds the inert NO_TRACING (chosen once), and a
        process that builds a run without --otlp-endpoint never imports opentelemetry."""
        sim = untraced[2]
        assert sim.tracing is NO_TRACING
        assert sim.sender is not None
        assert sim.sender.tracing is NO_TRACING
        assert all(r.tracing is NO_TRACING for r in sim.routers.values())
        assert all(a.tracing is NO_TRACING for a in sim.agents.values())
        probe = ("import sys\n"
                 "from lgsp.config import BrokerConfig\n"
                 "from lgsp.run import Simulation, SimulationConfig\n"
                 "Simulation(SimulationConfig(documents=1), BrokerConfig(bootstrap='h:9092'))\n"
                 "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n")
        r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           timeout=60, check=False)
        assert (r.returncode, r.stdout.strip()) == (0, "[]"), r.stderr


class TestOtlpExport:
    @pytest.mark.parametrize(("processes", "exporters"), [
        pytest.param(["--workers", "2"], 2, id="workers-2"),
        pytest.param(["--bus-workers", "1"], 4, id="bus-workers-1"),
    ])
    def test_every_process_exports_its_spans_over_otlp_and_flushes_on_stop(
            self, kafka_bootstrap, tmp_path, collector, processes, exporters):
        """``lgsp simulate --otlp-endpoint URL`` with worker processes: the spans of every
        document (a receipt span per status too) reach the collector from every process that
        handles records (senders, routers, recipients, trackers) by the time the command
        exits."""
        url, bodies = collector
        report_path = tmp_path / "report.json"
        r = subprocess.run(
            [sys.executable, "-m", "lgsp", "simulate", "-n", "8", "-r", "40", "--sig-alg",
             "ed25519", *processes, "--bootstrap", kafka_bootstrap, "--pki-cache",
             str(tmp_path / "keys"), "--otlp-endpoint", url, "--report", str(report_path),
             "--no-progress"],
            capture_output=True, text=True, timeout=240, check=False,
            env={**os.environ, "CI": "true"})
        assert r.returncode == 0, r.stderr[-3000:]
        totals = json.loads(report_path.read_text())["totals"]
        spans, instances = [], set()
        for body in bodies:
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                attrs = {a.key: a.value.string_value
                         for a in resource_spans.resource.attributes}
                assert attrs["service.name"] == "lgsp-sim"
                instances.add(attrs["service.instance.id"])
                spans += [s for scope in resource_spans.scope_spans for s in scope.spans]
        roots = [s for s in spans if not s.parent_span_id]
        assert len(roots) == totals["documents"] == 8
        statuses = [s for s in spans if any(a.key == "lgsp.status" for a in s.attributes)
                    and s.kind == s.SPAN_KIND_PRODUCER]
        assert len(statuses) == 5 * totals["completed"] == 5 * totals["sent"]
        receipts = [s for s in spans if any(a.key == "lgsp.status" for a in s.attributes)
                    and s.kind == s.SPAN_KIND_CONSUMER and s.name.endswith(".deliver")]
        assert len(receipts) >= len(statuses)  # a restarted tracker may read some again
        assert len({s.trace_id for s in spans}) == 8
        assert len(instances) == exporters, instances
