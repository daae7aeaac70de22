"""``--external`` options a run cannot honour are refused before anything starts: one line,
exit 2 (no broker is started, nothing waits for a service)."""

import datetime as dt

import pytest

from tests.cli.test_cli import run

CODE = "000.00.01.H56"


@pytest.mark.parametrize(("args", "message"), [
    (["--external", f"recipient={CODE}"],
     "lgsp: error: --external needs --run-id: your service reads the run's topics by name "
     "(lgsp.<run-id>.<platform>.deliver), so both must know it"),
    (["--external", "recipient=000.99.99.H56", "--run-id", "r"],
     "lgsp: error: --external recipient=000.99.99.H56: not an agency of this run's topology "
     "(profiles: see `lgsp topology`)"),
    (["--external", f"recipient={CODE},{CODE}", "--run-id", "r"],
     f"lgsp: error: --external names an agency twice: {CODE}"),
    (["--external", "vdxp=yes", "--run-id", "r"],
     "lgsp: error: --external 'vdxp=yes' must look like recipient=CODE[,CODE...], "
     "platform=LGSP-CODE[,...] or vdxp (codes from `lgsp topology`)"),
    (["--external", "sender=X", "--run-id", "r"],
     "lgsp: error: --external 'sender=X' must look like recipient=CODE[,CODE...], "
     "platform=LGSP-CODE[,...] or vdxp (codes from `lgsp topology`)"),
    (["--external", "platform=LGSP-H99", "--run-id", "r"],
     "lgsp: error: --external platform=LGSP-H99: not a platform of this run's topology (VDXP, "
     "LGSP-H56, LGSP-H26; the province profiles give the LGSPs)"),
    (["--external", "platform=LGSP-H26", "-p", "thanh-hoa", "--run-id", "r"],
     "lgsp: error: --external platform=LGSP-H26: not a platform of this run's topology (VDXP, "
     "LGSP-H56; the province profiles give the LGSPs); LGSP-H26 is profile hai-duong: add "
     "-p hai-duong"),
    (["--external", "platform=h56", "--run-id", "r"],
     "lgsp: error: --external platform=H56: not a platform of this run's topology (VDXP, "
     "LGSP-H56, LGSP-H26; the province profiles give the LGSPs); did you mean LGSP-H56?"),
    (["--external", "vdxp", "--external-share", "0.5", "--run-id", "r"],
     "lgsp: error: --external-share applies to --external recipient=… (the share of documents "
     "addressed to them); an outside router gets the traffic its platform carries"),
    (["--external", "platform=", "--run-id", "r"],
     "lgsp: error: --external 'platform=': an empty platform code"),
    (["--external", "vdxp", "--external", "platform=vdxp", "--run-id", "r"],
     "lgsp: error: --external names a platform twice: VDXP"),
    (["--external", "vdxp"],
     "lgsp: error: --external needs --run-id: your service reads the run's topics by name "
     "(lgsp.<run-id>.<platform>.deliver), so both must know it"),
    (["--external", f"recipient={CODE}", "--run-id", "r", "--find-max"],
     "lgsp: error: --external cannot be combined with --find-max yet (each trial is a new run "
     "with new topics your service would not know)"),
    (["--external", f"recipient={CODE}", "--run-id", "r", "--rotate-topics", "30s"],
     "lgsp: error: --external parties read fixed topic names; they cannot be combined with "
     "topic rotation (--rotate-topics) yet"),
    (["--external", f"recipient={CODE}", "--run-id", "r", "--external-share", "2"], None),
])
def test_a_bad_external_option_is_one_line_exit_2(args, message):
    result = run(["simulate", "-n", "5", "--no-progress", *args], timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    if message is not None:
        assert result.stderr.strip() == message


def test_a_silent_service_is_named_with_its_unanswered_deliveries(capsys):
    """A service that answered its probe and then went quiet: its deliveries are lost (exit 1)
    and the verdict says whose answers were missing and how many."""
    import typer

    from consumers.tracker import DeliveryTracker
    from lgsp.cli.outcome import finish
    from lgsp.domain import Document, Signer
    from lgsp.metrics import RunMetrics
    from lgsp.metrics.report import build_report
    from lgsp.profiles import load_topology

    tracker = DeliveryTracker(load_topology(["thanh-hoa"]), RunMetrics(), ack_timeout_s=1,
                              clock=lambda: 0, external=frozenset({CODE}))
    for n in (1, 2):
        tracker.expect(Document(document_id=f"D{n}", number=n, notation=f"{n}/UBND",
                                type_name="công văn", subject="s", sender="000.00.00.H56",
                                recipients=(CODE,), promulgation_place="Thanh Hóa",
                                promulgation_date=dt.date(2026, 1, 1),
                                signer=Signer("", "Chủ tịch", "A")), intended_ns=0)
    tracker.finish()
    report = build_report(tracker.metrics, run={"run_id": "r", "config": {}}, topology={},
                          duration_s=1.0)
    with pytest.raises(typer.Exit) as verdict:
        finish(report, [], report_path=None, html_path=None, json_out=True)
    assert verdict.value.exit_code == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"lgsp: no answer from recipient {CODE} within --ack-timeout for 2 of its 2 "
                   "deliveries",
                   "lgsp: the system under test failed 2 conformance check(s); see 'System "
                   "under test' in the report"]
