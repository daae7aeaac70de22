"""What a run simulates: ``SimulationConfig``, validated when it is made."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lgsp.bus.rotation import Rotation
from lgsp.bus.tracing import otlp_traces_url
from lgsp.codec.rest_registry import RestSchemaRegistry
from lgsp.config import RecipientConfig, StatusSeals
from lgsp.errors import ConfigError
from lgsp.external import ExternalParties
from lgsp.faults import SEALED_FAULTS, FaultPlan
from lgsp.signing.keys import SignatureAlgorithm
from producers.load_shape import LoadShape

DEFAULT_IDLE_S = 10.0
"""A bus-only run ends once no document has been submitted for this long after the first."""
NOTHING_CAME_S = 300.0
"""A bus-only run without ``--duration`` ends after this long if no document came at all."""


@dataclass(kw_only=True, frozen=True, slots=True)
class BusOnly:
    """A bus-only run (``--bus-only``): routers, recipients and a tracker without senders, for
    replayed or outside senders' traffic on the run's topics (``lgsp.run.bus_only``)."""

    idle_s: float = DEFAULT_IDLE_S
    """End once no document has been submitted for this long after the first one."""
    window_s: float | None = None
    """End this long after the run began listening (``--duration``), whatever came."""
    trust_capture: Path | None = None
    """Trust the CAs a capture carries (``--trust-capture``) instead of ``--pki DIR``'s."""

    def __post_init__(self) -> None:
        if self.idle_s <= 0:
            raise ConfigError("--idle must be > 0 seconds")
        if self.window_s is not None and self.window_s <= 0:
            raise ConfigError("--duration must be > 0 seconds")

DEFAULT_PROFILES = ("thanh-hoa", "hai-duong")
SERIES_POINTS = 20
"""A run's series has at least this many intervals (unless they would be under 0.1 s)."""
ROUND_INTERVALS_S = (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0)


MAX_SIGN_AHEAD = 32
"""Signing processes per worker at most (``--sign-ahead``)."""


@dataclass(kw_only=True, frozen=True, slots=True)
class SimulationConfig:
    """What to simulate. Defaults are the README's one-minute run."""

    profiles: tuple[str, ...] = DEFAULT_PROFILES
    documents: int | None = 500
    """Documents to send; None = as many as the load shape holds in ``duration_s``."""
    rate: float = 20.0
    """Documents per second (open loop); the peak rate of a shaped load."""
    shape: str = "constant"
    """Load shape (see ``producers.load_shape``): constant, ramp:A..B, steps:..., workday."""
    duration_s: float | None = None
    """Length of the schedule; None = ``documents / rate``."""
    warmup_s: float = 0.0
    """Documents intended in the first seconds are sent and counted but left out of latency."""
    interval_s: float | None = None
    """Width of the interval series; None = ``series_interval_s()``'s choice for the schedule."""
    rotate_s: float | None = None
    """Rotate the run's topics every so many seconds of schedule (bounded broker memory)."""
    fan_out_mean: float | None = None
    """Mean recipients per document; None = the traffic profile's (2.9)."""
    signature_algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA2048
    seed: int = 1
    ack_timeout_s: float = 30.0
    """A delivery with no 01 this long after its intended send time is lost."""
    settle_timeout_s: float = 60.0
    """After the last send, how long to wait for every lifecycle to finish."""
    recipient: RecipientConfig = field(default_factory=RecipientConfig)
    lenient_lgsp: bool = False
    run_id: str | None = None
    pki_cache: Path | None = None
    pki_dir: Path | None = None
    """Issue from and trust the CA in this directory (``--pki``) instead of a new one."""
    pki_out: Path | None = None
    """Write the run's CA, certificates and CRL here (``--pki-out``)."""
    traffic_profile: str = "traffic"
    keep_topics: bool = False
    record_path: Path | None = None
    """Record every topic of the run into this capture file."""
    registry_url: str | None = None
    """A Confluent-compatible Schema Registry to take schemas from instead of the files."""
    document_versions: tuple[int, ...] = ()
    broker_timeout_s: float = 30.0
    """The run ends (exit 4, with the report of what was confirmed) once the broker has been
    unreachable this long; shorter outages are ridden out."""
    faults: FaultPlan = field(default_factory=FaultPlan)
    """Fault injection (``--inject``): the share of documents given each fault kind."""
    """Document schema versions the agencies write (spread by agency); () = the latest."""
    allow_foreign_statuses: bool = False
    """Statuses about documents this run did not send, or from a party other than the
    recipient, do not fail the run's verdict (they are still counted)."""
    external: ExternalParties = field(default_factory=ExternalParties)
    """Parties the user's own services play (``--external``): lgsp-sim leaves them alone,
    drives load at them and grades what they do."""
    sign_ahead: int = 0
    """Signing processes per worker that sign documents ahead of their send time
    (``producers.sign_ahead``); 0: each document is signed in line when it is sent."""
    bus_only: BusOnly | None = None
    """A bus-only run: no senders; what external senders or ``lgsp replay`` submit on the
    run's topics is routed, taken in and tracked as *seen* (not expected) traffic."""
    otlp_endpoint: str | None = None
    """Export each document's journey as an OpenTelemetry trace to this OTLP/HTTP endpoint
    (``lgsp.bus.tracing``); None: no tracing, no ``traceparent`` header, no span."""
    status_seals: StatusSeals = StatusSeals.AUTO
    """Seal and check business statuses (``--status-seals``; ``seals_required`` resolves
    ``auto``)."""

    def __post_init__(self) -> None:
        if self.documents is not None and self.documents < 0:
            raise ConfigError("--documents must be >= 0")
        if self.bus_only is not None:
            self._check_bus_only()
        if self.documents is None and self.duration_s is None \
                and not self.shape.startswith("steps:"):
            raise ConfigError("give --documents or --duration")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ConfigError("--duration must be > 0 seconds")
        if self.rotate_s is not None and self.rotate_s <= 0:
            raise ConfigError("--rotate-topics must be > 0 seconds")
        if self.rotate_s is not None and self.record_path is not None:
            raise ConfigError("--record keeps every topic; it cannot be combined with topic "
                              "rotation (--rotate-topics)")
        if self.rotate_s is not None and self.external:
            raise ConfigError("--external parties read fixed topic names; they cannot be "
                              "combined with topic rotation (--rotate-topics) yet")
        if self.warmup_s < 0:
            raise ConfigError("--warmup must be >= 0 seconds")
        if not 0 <= self.sign_ahead <= MAX_SIGN_AHEAD:
            raise ConfigError(f"--sign-ahead must be 0 to {MAX_SIGN_AHEAD} processes per worker")
        if self.interval_s is not None and self.interval_s <= 0:
            raise ConfigError("the series interval must be > 0 seconds")
        if self.rate <= 0:
            raise ConfigError("--rate must be > 0 documents per second")
        if self.broker_timeout_s <= 0:
            raise ConfigError("--broker-timeout must be > 0 seconds")
        if self.ack_timeout_s <= 0 or self.settle_timeout_s <= 0:
            raise ConfigError("--ack-timeout and --settle-timeout must be > 0 seconds")
        if self.registry_url is not None:
            RestSchemaRegistry(self.registry_url)  # checks the URL's form; no request yet
        if self.otlp_endpoint is not None:
            otlp_traces_url(self.otlp_endpoint)  # checks the URL's form; no request yet
        if self.status_seals is StatusSeals.OFF and self.faults.kinds & SEALED_FAULTS:
            raise ConfigError("--inject forged-status needs status seals (a forged status is "
                              "told by its seal): leave out --status-seals off")

    @property
    def seals_required(self) -> bool:
        """Whether lgsp-sim's recipients seal business statuses and the tracker accepts only
        statuses sealed by their recipient: ``on``, or ``auto`` with external recipients or
        an injected ``forged-status``."""
        if self.status_seals is StatusSeals.AUTO:
            return bool(self.external.recipients or self.faults.kinds & SEALED_FAULTS)
        return self.status_seals is StatusSeals.ON

    def _check_bus_only(self) -> None:
        if self.documents:
            raise ConfigError("--bus-only sends nothing: leave out --documents")
        if self.external:
            raise ConfigError("--bus-only cannot be combined with --external (a bus-only run "
                              "has no senders to drive load at a service)")
        if self.faults:
            raise ConfigError("--bus-only cannot be combined with --inject (it sends nothing)")
        if self.rotate_s is not None:
            raise ConfigError("--bus-only reads fixed topic names (outside senders write to "
                              "them); it cannot be combined with --rotate-topics")
        if self.warmup_s:
            raise ConfigError("--bus-only has no schedule to warm up: leave out --warmup")
        if self.sign_ahead:
            raise ConfigError("--bus-only signs nothing: leave out --sign-ahead")
        if self.status_seals is StatusSeals.ON:
            raise ConfigError("--bus-only issues no certificate to seal statuses with (it only "
                              "trusts the senders' CA): leave out --status-seals on")

    def series_interval_s(self) -> float:
        """The series interval: the one given, else the largest round width (0.1 s .. 5 s) that
        cuts the schedule into at least ``SERIES_POINTS`` intervals (5 s for 100 s and more)."""
        if self.interval_s is not None:
            return self.interval_s
        if self.bus_only is not None:  # no schedule: as for a long one
            return ROUND_INTERVALS_S[-1]
        try:
            wanted = self.load_shape().duration_s / SERIES_POINTS
        except ConfigError:  # no schedule to cut (e.g. --documents 0)
            return ROUND_INTERVALS_S[-1]
        return max((w for w in ROUND_INTERVALS_S if w <= wanted), default=ROUND_INTERVALS_S[0])

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["interval_s"] = self.series_interval_s()
        data["signature_algorithm"] = self.signature_algorithm.value
        data["recipient"]["signature_policy"] = self.recipient.signature_policy.value
        data["status_seals"] = self.status_seals.value
        data["status_seals_required"] = self.seals_required
        data["pki_cache"] = str(self.pki_cache) if self.pki_cache else None
        data["pki_dir"] = str(self.pki_dir) if self.pki_dir else None
        data["pki_out"] = str(self.pki_out) if self.pki_out else None
        data["record_path"] = str(self.record_path) if self.record_path else None
        data["profiles"] = list(self.profiles)
        data["document_versions"] = list(self.document_versions)
        if self.bus_only is not None:
            data["bus_only"]["trust_capture"] = (str(self.bus_only.trust_capture)
                                                 if self.bus_only.trust_capture else None)
        return data

    def check_warmup(self) -> None:
        """A warm-up as long as the schedule would leave no latency figure at all."""
        if self.warmup_s and self.warmup_s >= self.load_shape().duration_s:
            raise ConfigError(f"--warmup {self.warmup_s:g} s is not shorter than the "
                              f"{self.load_shape().duration_s:g} s schedule: no document would "
                              "be measured")

    def rotation(self) -> Rotation | None:
        if self.rotate_s is None:
            return None
        return Rotation(self.rotate_s, keep_s=self.ack_timeout_s + 5.0)

    def load_shape(self) -> LoadShape:
        duration = self.duration_s
        if duration is None:
            if self.shape.startswith("steps:"):
                return LoadShape.parse(self.shape, rate=self.rate, duration_s=None)
            if self.shape != "constant":  # the parser names an unknown shape, or asks for one
                return LoadShape.parse(self.shape, rate=self.rate, duration_s=None)
            duration = (self.documents or 0) / self.rate
        return LoadShape.parse(self.shape, rate=self.rate, duration_s=duration)


