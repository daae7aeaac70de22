"""Every status a run sees is counted: documents it never sent (replayed or outside traffic on
its topics) come back as foreign statuses in the report, and fail the run's verdict unless the
user opted in (``--allow-foreign-statuses``), on the real broker."""

from __future__ import annotations

import dataclasses
import time

import pytest
import typer

from lgsp.cli.outcome import finish
from lgsp.metrics.report import build_report
from producers.sender import vietnam_today
from tests.conftest import wait_for
from tests.e2e.helpers import simulation

pytestmark = pytest.mark.e2e


async def test_a_document_the_run_did_not_send_is_counted_and_fails_the_verdict(
        kafka_bootstrap, pki_cache, run_id, tmp_path):
    sim = simulation(kafka_bootstrap, pki_cache, run_id, profiles=("thanh-hoa",))
    province, dept = "000.00.00.H56", "000.00.01.H56"
    base = dataclasses.replace(sim.traffic.draft(), sender=province, recipients=(dept,),
                               sign_personal=True, sign_agency=True)
    await sim.start([base])
    try:
        async def submit(*, tracked: bool) -> None:
            document = sim.sender.compose(base, vietnam_today())
            signed = sim.sender.sign(document, base)
            if tracked:
                await (await sim.sender.send(document, signed, time.monotonic_ns()))
                return
            # the same bytes another party would put on the run's inbound topic: never expected
            envelope = sim.sender.envelope(document, signed)
            await sim.producer.send_and_wait(envelope.topic, envelope.value, key=envelope.key,
                                             headers=envelope.headers)

        await submit(tracked=True)
        await submit(tracked=False)
        await wait_for(lambda: sum(sim.metrics.foreign_statuses.values()) == 5,
                       timeout_s=30, what="01, 03, 04, 05, 06 of the outside document")
        await wait_for(lambda: sim.tracker.pending == 0, what="the run's own document")
        assert sim.metrics.foreign_statuses == {
            f"not_sent_by_this_run|{code}": 1 for code in ("01", "03", "04", "05", "06")}
    finally:
        await sim.stop()
    report = build_report(sim.metrics, run={"run_id": run_id, "config": {}}, topology={},
                          duration_s=1.0)
    assert report["foreign_statuses"] == {"not_sent_by_this_run": {
        code: 1 for code in ("01", "03", "04", "05", "06")}}
    assert report["totals"]["sent"] == report["totals"]["completed"] == 1
    with pytest.raises(typer.Exit) as verdict:
        finish(report, [], report_path=None, html_path=None, json_out=True)
    assert verdict.value.exit_code == 1
    report["run"]["config"]["allow_foreign_statuses"] = True
    finish(report, [], report_path=None, html_path=None, json_out=True)  # exit 0: no raise
