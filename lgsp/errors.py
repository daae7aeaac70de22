"""The one exception tree of lgsp-sim.

::

    LgspError                              exit_code 1
    ├─ ConfigError(LgspError, ValueError)  bad profile, flag or env value          exit 2
    ├─ BrokerError                         unreachable, topic missing, embedded broker did not start
    │  ├─ StageFailed                      a consume stage ended on an unexpected error
    │  └─ SendFailed                       our producer could not hand a record to Kafka
    ├─ RegistryError                       schema registry unreachable or answering an error
    ├─ LifecycleError                      used before start or after stop
    ├─ RunAborted                          the coordinator gave up on a run (a worker's fate)
    ├─ DocumentRefused                     refused before it reaches the bus (secret document)
    ├─ CaptureError                        a capture file that cannot be read               exit 3
    ├─ SampleError(LgspError, ValueError)  a sample record that does not fit its schema     exit 3
    └─ Rejected                            a record's counted fate, with a ``reason``
       ├─ DecodeError                      undecodable, unknown schema id, schema-invalid
       ├─ SignatureError                   tampered, bad signature, expired/revoked, unknown issuer
       └─ DeliveryError                    unknown recipient, duplicate, out-of-order status

``reason`` is a stable snake_case word reused as metric label, dead-letter reason and 02 reason.
"""

from __future__ import annotations


class LgspError(Exception):
    """Root of every error lgsp-sim raises on purpose."""

    exit_code: int = 1


class ConfigError(LgspError, ValueError):
    """A profile, flag or environment value is wrong; the message names the fix."""

    exit_code = 2


class BrokerError(LgspError):
    """The broker is unreachable, a topic is missing, or the embedded broker did not start."""

    exit_code = 4


class StageFailed(BrokerError):
    """A consume stage (router, recipients, tracker) ended on an error it could not handle; the
    run cannot complete without it. In a crash-tolerant run its process exits and is restarted
    like a killed one."""


class SendFailed(BrokerError):
    """Our own producer could not hand a record to Kafka (reported by the sender, e.g. through
    the senders' ledger): not a loss on the bus."""


class RegistryError(LgspError):
    """A schema registry (``--registry-url``) is unreachable or answered an error."""

    exit_code = 4


class LifecycleError(LgspError):
    """A component was used before ``start()`` or after ``stop()``."""


class RunAborted(LgspError):
    """The coordinator gave up on the run (the broker is lost): a worker reports what was
    confirmed now, without draining."""

    exit_code = 4

    def __init__(self, message: str = "the run was aborted by the coordinator") -> None:
        super().__init__(message)


class DocumentRefused(LgspError):
    """A document that must never be sent on the bus (e.g. marked secret)."""

    exit_code = 3


class CaptureError(LgspError):
    """A capture file that cannot be read (truncated, corrupt, not a capture)."""

    exit_code = 3


class SampleError(LgspError, ValueError):
    """A sample record does not fit the schema; ``path`` says where."""

    exit_code = 3

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class Rejected(LgspError):
    """A record's counted fate: ``reason`` is stable and machine-readable, ``detail`` human."""

    reason: str = "rejected"

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail)
        if reason is not None:
            self.reason = reason
        self.detail = detail


class DecodeError(Rejected):
    """Undecodable bytes, an unknown schema id, or a record that does not fit its schema."""

    reason = "undecodable"


class SignatureError(Rejected):
    """A signature that does not verify, or a certificate that must not be trusted."""

    reason = "bad_signature"


class DeliveryError(Rejected):
    """A delivery that cannot be made: unknown recipient, duplicate, out-of-order status."""

    reason = "undeliverable"
