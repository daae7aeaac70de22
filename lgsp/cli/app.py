"""The typer app and its error boundary.

Exit codes: 0 ok · 1 verdict failed (documents lost or incomplete; schemas incompatible) ·
2 usage or configuration error · 3 bad input (e.g. a refused document) · 4 broker unreachable or
failed · 6 an SLO gate breached · 130 interrupted.
An ``LgspError`` becomes one line on stderr and its exit code; anything else is a bug and keeps its
traceback. Commands signal a failed verdict by raising ``typer.Exit(code)``.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from lgsp.errors import LgspError

# typer now vendors click (typer/_click, private: "not to be used by external applications"),
# so `click.UsageError` would catch nothing; its public BadParameter leads to the classes.
UsageError: type[Any] = typer.BadParameter.__mro__[1]
ClickException: type[Any] = UsageError.__mro__[1]

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


def main(args: list[str] | None = None) -> None:
    """Entry point: a usage error (click's, exit 2) or an ``LgspError`` becomes one line on
    stderr with its exit code; ``--help`` and a bare group print their help."""
    try:
        code = app(args=args, prog_name="lgsp", standalone_mode=False)
    except UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare `lgsp` or `lgsp schemas`
            typer.echo(exc.format_message())  # the group's help, as click shows it
            sys.exit(exc.exit_code)
        _error(usage_line(exc), exc.exit_code)
    except ClickException as exc:
        _error(exc.format_message(), exc.exit_code)
    except typer.Abort:
        _error("interrupted", 130)
    except LgspError as exc:
        _error(str(exc), exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


def usage_line(exc: Any) -> str:
    """click's usage error (several lines and a box under rich) as one line with the hint."""
    message = " ".join(exc.format_message().split())
    where = exc.ctx.command_path if exc.ctx is not None else "lgsp"
    return f"{message} (see '{where} --help')"


def _error(message: str, code: int) -> None:
    print(f"lgsp: error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(code)
