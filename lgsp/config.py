"""Configuration: one frozen, keyword-only dataclass per concern, validated on creation."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lgsp.errors import ConfigError

_PROTOCOLS = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
_SASL = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}


@dataclass(kw_only=True, frozen=True, slots=True)
class BrokerConfig:
    """How to reach Kafka, and the client settings passed through to aiokafka.

    ``bootstrap=None`` means: start the embedded Tansu broker.
    """

    bootstrap: str | None = None
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    linger_ms: int = 5
    max_batch_size: int = 1024 * 1024
    fetch_max_wait_ms: int = 10
    """Tansu does not wake a waiting fetch on new data: keep this small."""
    partitions: int = 4
    replication_factor: int = 1

    def __post_init__(self) -> None:
        if self.security_protocol not in _PROTOCOLS:
            raise ConfigError(f"--security-protocol must be one of {sorted(_PROTOCOLS)}")
        if self.security_protocol.startswith("SASL"):
            if self.sasl_mechanism not in _SASL:
                raise ConfigError(f"--sasl-mechanism must be one of {sorted(_SASL)} with "
                                  f"{self.security_protocol}")
            if not (self.sasl_username and self.sasl_password):
                raise ConfigError("SASL needs --sasl-username and --sasl-password "
                                  "(or LGSP_SASL_USERNAME / LGSP_SASL_PASSWORD)")
        if self.bootstrap is not None:
            _check_bootstrap(self.bootstrap)
        if self.partitions < 1:
            raise ConfigError("--partitions must be at least 1")

    def with_bootstrap(self, bootstrap: str) -> BrokerConfig:
        from dataclasses import replace
        return replace(self, bootstrap=bootstrap)

    def ssl_context(self) -> ssl.SSLContext | None:
        if "SSL" not in self.security_protocol:
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context

    def common_kwargs(self) -> dict[str, Any]:
        if self.bootstrap is None:
            raise ConfigError("no bootstrap server: start the embedded broker first")
        kwargs: dict[str, Any] = {"bootstrap_servers": self.bootstrap,
                                  "security_protocol": self.security_protocol}
        context = self.ssl_context()
        if context is not None:
            kwargs["ssl_context"] = context
        if self.security_protocol.startswith("SASL"):
            kwargs.update(sasl_mechanism=self.sasl_mechanism,
                          sasl_plain_username=self.sasl_username,
                          sasl_plain_password=self.sasl_password)
        return kwargs

    def producer_kwargs(self) -> dict[str, Any]:
        return {**self.common_kwargs(), "linger_ms": self.linger_ms,
                "max_batch_size": self.max_batch_size, "acks": "all"}

    def consumer_kwargs(self, group_id: str | None) -> dict[str, Any]:
        return {**self.common_kwargs(), "group_id": group_id, "enable_auto_commit": False,
                "auto_offset_reset": "earliest", "fetch_max_wait_ms": self.fetch_max_wait_ms,
                "max_partition_fetch_bytes": self.max_batch_size}


def _check_bootstrap(bootstrap: str) -> None:
    """HOST:PORT[,HOST:PORT...] with ports 1..65535 and no URL scheme (aiokafka takes none)."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        if "://" in server:
            raise ConfigError(f"--bootstrap {bootstrap!r} must be HOST:PORT without a scheme, "
                              f"e.g. {server.split('://', 1)[1]}")
        if not host or not port.isdigit():
            raise ConfigError(f"--bootstrap {bootstrap!r} must be HOST:PORT (several: "
                              "HOST:PORT,HOST:PORT)")
        if not 1 <= int(port) <= 65535:
            raise ConfigError(f"--bootstrap {bootstrap!r}: port {port} is not in 1..65535")


class SignaturePolicy(StrEnum):
    """What a recipient demands of a document's signatures before accepting it."""

    REQUIRE_AGENCY = "require-agency"
    """The agency signature must be present and valid; a missing personal signature is counted
    (the document is not legally complete) but accepted, as the 2022 figures show happens."""
    REQUIRE_BOTH = "require-both"
    """Both signatures must be present and valid (Decree 30 Art. 5): otherwise status 02."""


class StatusSeals(StrEnum):
    """Whether a run's business statuses are sealed and checked (docs/contract.md §7a)."""

    AUTO = "auto"
    """On when the run has ``--external`` recipients or injects ``forged-status``."""
    ON = "on"
    """lgsp-sim's recipients seal every business status; the tracker counts any status not
    sealed by its recipient as forged."""
    OFF = "off"
    """Nothing is sealed or checked (load runs: an RSA-2048 seal costs about 0.3 ms of CPU per
    status, five statuses per delivery)."""


@dataclass(kw_only=True, frozen=True, slots=True)
class RecipientConfig:
    """How recipient agencies behave (compressed time)."""

    step_delay_s: float = 0.05
    """Clerk/leader processing delay between lifecycle statuses 03, 04, 05, 06 (seconds)."""
    intake_delay_s: float = 0.0
    """Time a recipient platform's document system spends taking in each document before 01,
    in line (a slow consumer: its queue grows when documents come faster)."""
    in_progress_updates: int = 1
    """How many 05 (in progress) statuses precede 06."""
    signature_policy: SignaturePolicy = SignaturePolicy.REQUIRE_AGENCY
    dedupe_capacity: int = 1_000_000
    """(DocumentId, recipient) pairs remembered to absorb duplicate deliveries: at least this
    many of the most recent, per platform (``lgsp.recent_keys``)."""

    def __post_init__(self) -> None:
        if self.step_delay_s < 0:
            raise ConfigError("--step-delay must be >= 0 seconds")
        if self.intake_delay_s < 0:
            raise ConfigError("--intake-delay must be >= 0 seconds")
        if self.in_progress_updates < 0:
            raise ConfigError("in_progress_updates must be >= 0")
