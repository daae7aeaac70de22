"""Options shared by commands; each help names its env var and unit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lgsp.config import BrokerConfig

Bootstrap = Annotated[str | None, typer.Option(
    "--bootstrap", envvar="LGSP_BOOTSTRAP",
    help="Kafka HOST:PORT to use instead of the embedded broker.")]
SecurityProtocol = Annotated[str, typer.Option(
    "--security-protocol", envvar="LGSP_SECURITY_PROTOCOL",
    help="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")]
SaslMechanism = Annotated[str | None, typer.Option(
    "--sasl-mechanism", envvar="LGSP_SASL_MECHANISM",
    help="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")]
SaslUsername = Annotated[str | None, typer.Option(
    "--sasl-username", envvar="LGSP_SASL_USERNAME", help="SASL user name.")]
SaslPassword = Annotated[str | None, typer.Option(
    "--sasl-password", envvar="LGSP_SASL_PASSWORD", help="SASL password.")]
SslCafile = Annotated[Path | None, typer.Option(
    "--ssl-cafile", envvar="LGSP_SSL_CAFILE", help="CA bundle for TLS.")]
SslCertfile = Annotated[Path | None, typer.Option(
    "--ssl-certfile", envvar="LGSP_SSL_CERTFILE", help="Client certificate for mutual TLS.")]
SslKeyfile = Annotated[Path | None, typer.Option(
    "--ssl-keyfile", envvar="LGSP_SSL_KEYFILE", help="Client key for mutual TLS.")]
Partitions = Annotated[int, typer.Option(
    "--partitions", envvar="LGSP_PARTITIONS", help="Partitions per topic created by a run.")]


def broker_config(bootstrap: str | None, security_protocol: str, sasl_mechanism: str | None,
                  sasl_username: str | None, sasl_password: str | None, ssl_cafile: Path | None,
                  ssl_certfile: Path | None, ssl_keyfile: Path | None,
                  partitions: int) -> BrokerConfig:
    return BrokerConfig(
        bootstrap=bootstrap, security_protocol=security_protocol.upper(),
        sasl_mechanism=sasl_mechanism.upper() if sasl_mechanism else None,
        sasl_username=sasl_username, sasl_password=sasl_password,
        ssl_cafile=str(ssl_cafile) if ssl_cafile else None,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None, partitions=partitions)
