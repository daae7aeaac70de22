"""--status-seals on the command line: in --help with its cost, and every misuse one line, exit 2,
before anything starts."""

from __future__ import annotations

import pytest

from tests.cli.test_cli import run
from tests.cli.test_options import _help
from tests.cli.test_schemas_cli import one_line_error


def test_help_names_the_option_its_env_var_and_its_cost():
    text = _help("simulate")
    assert "--status-seals" in text
    assert "LGSP_STATUS_SEALS" in text
    assert "RSA-2048 about 0.3 ms to seal" in text
    assert "forged-status" in text


@pytest.mark.parametrize(("args", "env", "message"), [
    pytest.param(["--documents", "1", "--status-seals", "sometimes"], {},
                 "--status-seals 'sometimes' must be auto, on or off", id="bad-value"),
    pytest.param(["--documents", "1", "--status-seals", "off", "--inject", "forged-status=10%"],
                 {}, "--inject forged-status needs status seals", id="off-with-forged-status"),
    pytest.param(["--documents", "1", "--inject", "forged-status=10%"],
                 {"LGSP_STATUS_SEALS": "off"}, "--inject forged-status needs status seals",
                 id="off-from-the-environment"),
    pytest.param(["--bus-only", "--run-id", "r1", "--bootstrap", "localhost:1", "--pki", ".",
                  "--status-seals", "on"], {}, "--bus-only issues no certificate",
                 id="bus-only-on"),
])
def test_a_misuse_is_one_line_and_exit_2(args, env, message):
    line = one_line_error(run(["simulate", *args], env_extra=env))
    assert message in line


def test_inject_all_includes_forged_status_unless_seals_are_off():
    """all=8%: 14 kinds add up to 112 % with forged-status, 13 to 104 % without it."""
    on = one_line_error(run(["simulate", "--documents", "1", "--inject", "all=8%"]))
    off = one_line_error(run(["simulate", "--documents", "1", "--inject", "all=8%",
                              "--status-seals", "off"]))
    assert "add up to 112%" in on
    assert "add up to 104%" in off
