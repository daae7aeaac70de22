"""The broker options are declared once and reach simulate, record and replay alike."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from lgsp.cli import app
from lgsp.cli.options import BrokerOptions, broker_options

BROKER_FLAGS = ("--bootstrap", "--security-protocol", "--sasl-mechanism", "--sasl-username",
                "--sasl-password", "--ssl-cafile", "--ssl-certfile", "--ssl-keyfile")


def _help(*command: str) -> str:
    r = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    return " ".join(r.output.replace("│", " ").split())


def test_the_three_commands_show_the_same_broker_options():
    for command in ("simulate", "record", "replay"):
        text = _help(command)
        assert "Kafka connection" in text
        for flag in BROKER_FLAGS:
            assert flag in text, f"{command} --help lacks {flag}"


def test_replay_help_says_bootstrap_is_required_not_embedded():
    """replay never starts a broker: its help must not promise the embedded one."""
    text = _help("replay")
    assert "required unless --dry-run" in text
    assert "instead of the embedded broker" not in text
    assert "instead of the embedded broker" in _help("simulate")


def test_flags_and_env_vars_arrive_as_one_broker_config(tmp_path):
    """A command decorated with broker_options gets a BrokerOptions that builds BrokerConfig."""
    cafile = tmp_path / "ca.pem"
    cafile.write_text("not checked here", encoding="utf-8")
    seen: list[BrokerOptions] = []
    demo = typer.Typer()

    @demo.command()
    @broker_options(bootstrap_help="where")
    def run(name: str = "x", connection: BrokerOptions = BrokerOptions()) -> None:  # noqa: B008
        assert name == "n"
        seen.append(connection)

    r = CliRunner().invoke(demo, ["--name", "n", "--bootstrap", "k1:9093,k2:9093",
                                  "--security-protocol", "sasl_ssl", "--ssl-cafile", str(cafile)],
                           env={"LGSP_SASL_MECHANISM": "scram-sha-512",
                                "LGSP_SASL_USERNAME": "u", "LGSP_SASL_PASSWORD": "p"})
    assert r.exit_code == 0, r.output
    config = seen[0].config(partitions=3)
    assert (config.bootstrap, config.security_protocol, config.sasl_mechanism,
            config.sasl_username, config.sasl_password, config.ssl_cafile, config.partitions) == (
        "k1:9093,k2:9093", "SASL_SSL", "SCRAM-SHA-512", "u", "p", str(cafile), 3)
