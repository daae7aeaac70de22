"""The typer app and its error boundary.

Exit codes: 0 ok · 1 verdict failed (documents lost or incomplete; schemas incompatible) ·
2 usage or configuration error · 3 bad input (e.g. a refused document) · 4 broker unreachable or
failed · 6 an SLO gate breached · 130 interrupted.
An ``LgspError`` becomes one line on stderr and its exit code; anything else is a bug and keeps its
traceback. Commands signal a failed verdict by raising ``typer.Exit(code)``.
"""

from __future__ import annotations

import sys

import typer

from lgsp.errors import LgspError

app = typer.Typer(
    name="lgsp",
    help="Simulator of Vietnam's LGSP document-exchange bus over Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from lgsp.cli import (
        broker_cmd,
        capture_cmds,
        contract_cmd,
        registry_cmd,
        report_cmd,
        schemas_cmd,
        simulate_cmd,
        topology_cmd,
    )

    app.command("simulate")(simulate_cmd.simulate)
    app.command("broker")(broker_cmd.broker)
    app.command("topology")(topology_cmd.topology)
    app.command("record")(capture_cmds.record)
    app.command("replay")(capture_cmds.replay)
    app.command("report")(report_cmd.report)
    app.command("contract")(contract_cmd.contract)
    app.add_typer(schemas_cmd.schemas_app, name="schemas")
    app.add_typer(registry_cmd.registry_app, name="registry")


_register()


def main() -> None:
    """Entry point: click handles usage errors (exit 2) and --help; ``LgspError`` → one line."""
    try:
        app()
    except LgspError as exc:
        print(f"lgsp: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
