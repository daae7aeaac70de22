"""Schema evolution at run time: v1 and v2 writers on one bus, v2 readers resolving both by the
writer's schema id; an unknown schema id is dead-lettered with that reason."""

import asyncio
import dataclasses
import uuid

import pytest

from lgsp.bus import headers
from lgsp.codec import SignedDocument, frame
from lgsp.signing import content_digest
from tests.conftest import wait_for
from tests.e2e.helpers import simulation

pytestmark = pytest.mark.e2e


def test_mixed_version_writers_are_all_read_by_the_v2_reader(kafka_bootstrap, pki_cache):
    """Agencies write document v1 or v2; every delivery completes; both versions were decoded."""
    sim = simulation(kafka_bootstrap, pki_cache, f"t{uuid.uuid4().hex[:10]}",
                     documents=200, rate=100.0, document_versions=(1, 2))
    report = asyncio.run(sim.run())
    totals = report["totals"]
    assert totals["sent"] == totals["completed"]
    assert totals["dead_letters"] == 0
    decoded = report["schemas"]["document_versions_decoded"]
    assert set(decoded) == {"1", "2"}
    assert sum(decoded.values()) == totals["sent"]


async def test_unknown_schema_ids_are_dead_lettered(kafka_bootstrap, pki_cache, run_id):
    sim = simulation(kafka_bootstrap, pki_cache, run_id, profiles=("thanh-hoa",))
    draft = dataclasses.replace(sim.traffic.draft(), sender="000.00.00.H56",
                                recipients=("000.00.01.H56",))
    await sim.start([draft])
    try:
        topic = sim.topics.deliver("LGSP-H56")
        content = b"\x02\x04"
        unknown_content = sim.events.encode_signed(
            SignedDocument(99, content, content_digest(content, 99), None, None))
        unknown_envelope = frame(42, b"\x00" * 10)
        for number, value in enumerate((unknown_content, unknown_envelope), start=1):
            routing = headers.build(headers.DOCUMENT, f"000.00.00.H56,2023/01/01,{number}/UBND",
                                    "000.00.00.H56", ("000.00.01.H56",))
            await (await sim.producer.send(topic, value=value, headers=routing))
        await wait_for(lambda: sim.metrics.dead_letters["unknown_schema_id"] == 2,
                       what="two unknown_schema_id dead letters")
    finally:
        await sim.stop()
