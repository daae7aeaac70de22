"""Options shared by commands; each help names its env var and unit.

The broker, TLS and SASL options of ``simulate``, ``record`` and ``replay`` are declared once:
``@broker_options(bootstrap_help=...)`` adds them to a command's signature (typer reads it) and
hands the command one ``BrokerOptions`` as its ``connection`` argument, which builds the
``lgsp.config.BrokerConfig``.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from lgsp.config import BrokerConfig

PANEL = "Kafka connection"
"""The help panel that groups the broker options."""

Partitions = Annotated[int, typer.Option(
    "--partitions", envvar="LGSP_PARTITIONS", help="Partitions per topic created by a run.")]


def check_output_files(**files: Path | None) -> None:
    """Refuse, before any work, a file to write that is a directory or whose directory does not
    exist (a run would otherwise fail at its end). Keyword: the option's name, ``html_out`` for
    ``--html-out``. Checked in the command, not when parsing: a path may exist only where the
    command runs (docker-compose.yml's ``/reports``)."""
    from lgsp.errors import ConfigError

    for name, path in files.items():
        flag = "--" + name.replace("_", "-")
        if path is None:
            continue
        if path.is_dir():
            raise ConfigError(f"{flag} {path} is a directory; give a file name")
        if not path.parent.is_dir():
            raise ConfigError(f"{flag} {path}: the directory {path.parent} does not exist")


def _pem(flag: str, envvar: str, text: str) -> Any:
    return typer.Option(flag, envvar=envvar, help=text, exists=True, dir_okay=False,
                        readable=True, rich_help_panel=PANEL)


@dataclass(kw_only=True, frozen=True, slots=True)
class BrokerOptions:
    """The broker options as the user gave them (flags or ``LGSP_*`` env vars)."""

    bootstrap: str | None = None
    """Kafka HOST:PORT[,HOST:PORT...]; None = the embedded broker (simulate only)."""
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    def config(self, *, partitions: int = 1) -> BrokerConfig:
        """The checked ``BrokerConfig`` (``ConfigError`` names a wrong value)."""
        return BrokerConfig(
            bootstrap=self.bootstrap, security_protocol=self.security_protocol.upper(),
            sasl_mechanism=self.sasl_mechanism.upper() if self.sasl_mechanism else None,
            sasl_username=self.sasl_username, sasl_password=self.sasl_password,
            ssl_cafile=str(self.ssl_cafile) if self.ssl_cafile else None,
            ssl_certfile=str(self.ssl_certfile) if self.ssl_certfile else None,
            ssl_keyfile=str(self.ssl_keyfile) if self.ssl_keyfile else None,
            partitions=partitions)


def _options(bootstrap_help: str) -> dict[str, Any]:
    """Each ``BrokerOptions`` field's typer annotation."""
    return {
        "bootstrap": Annotated[str | None, typer.Option(
            "--bootstrap", envvar="LGSP_BOOTSTRAP", help=bootstrap_help,
            rich_help_panel=PANEL)],
        "security_protocol": Annotated[str, typer.Option(
            "--security-protocol", envvar="LGSP_SECURITY_PROTOCOL",
            help="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.", rich_help_panel=PANEL)],
        "sasl_mechanism": Annotated[str | None, typer.Option(
            "--sasl-mechanism", envvar="LGSP_SASL_MECHANISM",
            help="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.", rich_help_panel=PANEL)],
        "sasl_username": Annotated[str | None, typer.Option(
            "--sasl-username", envvar="LGSP_SASL_USERNAME", help="SASL user name.",
            rich_help_panel=PANEL)],
        "sasl_password": Annotated[str | None, typer.Option(
            "--sasl-password", envvar="LGSP_SASL_PASSWORD", help="SASL password.",
            rich_help_panel=PANEL)],
        "ssl_cafile": Annotated[Path | None, _pem(
            "--ssl-cafile", "LGSP_SSL_CAFILE", "CA bundle (PEM file) for TLS.")],
        "ssl_certfile": Annotated[Path | None, _pem(
            "--ssl-certfile", "LGSP_SSL_CERTFILE", "Client certificate (PEM) for mutual TLS.")],
        "ssl_keyfile": Annotated[Path | None, _pem(
            "--ssl-keyfile", "LGSP_SSL_KEYFILE", "Client key (PEM) for mutual TLS.")],
    }


NOT_GIVEN = BrokerOptions()
"""The default of a command's ``connection`` parameter (the decorator always passes one)."""
Command = TypeVar("Command", bound=Callable[..., Any])


def broker_options(*, bootstrap_help: str) -> Callable[[Command], Command]:
    """Give a command the broker options; it receives them as ``connection: BrokerOptions``.

    typer builds a command from ``inspect.signature`` and the type hints: the wrapper shows the
    command's own parameters (without ``connection``) followed by one keyword-only parameter per
    ``BrokerOptions`` field, and folds those back into a ``BrokerOptions`` when called.
    """
    annotations = _options(bootstrap_help)
    names = [f.name for f in fields(BrokerOptions)]
    defaults = BrokerOptions()

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command)
        hints = typing.get_type_hints(command, include_extras=True)
        own = [p.replace(annotation=hints.get(p.name, p.annotation))
               for p in signature.parameters.values() if p.name != "connection"]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                   default=getattr(defaults, name),
                                   annotation=annotations[name]) for name in names]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in names if name in kwargs}
            return command(*args, connection=BrokerOptions(**given), **kwargs)

        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[*own, *added])
        wrapper.__annotations__ = {**{p.name: p.annotation for p in own},
                                   **annotations, "return": hints.get("return")}
        return typing.cast(Command, wrapper)

    return decorate
