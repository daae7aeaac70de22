"""``--external`` options a run cannot honour are refused before anything starts: one line,
exit 2 (no broker is started, nothing waits for a service)."""

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
    (["--external", "vdxp", "--run-id", "r"],
     "lgsp: error: --external vdxp: an outside vdxp router is not supported yet; only "
     "recipient=CODE[,CODE...] parties can be external in this version"),
    (["--external", "sender=X", "--run-id", "r"],
     "lgsp: error: --external 'sender=X' must look like recipient=CODE[,CODE...] (an agency "
     "code from `lgsp topology`)"),
    (["--external", "platform=LGSP-H56", "--run-id", "r"],
     "lgsp: error: --external platform=LGSP-H56: an outside platform router is not supported "
     "yet; only recipient=CODE[,CODE...] parties can be external in this version"),
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
