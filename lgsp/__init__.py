"""lgsp-sim: an event-driven simulator of Vietnam's LGSP document-exchange bus over Kafka.

The public API: configuration, errors, the domain model and the building blocks a tool needs to put
signed documents on the bus or read them off it. The ``lgsp`` command composes them.
"""

from lgsp.broker.embedded import EmbeddedBroker
from lgsp.codec import AvroCodec, EventCodec, FileSchemaRegistry, SignedDocument
from lgsp.config import BrokerConfig, RecipientConfig, SignaturePolicy
from lgsp.domain import (
    Agency,
    AgencyCode,
    Document,
    StatusCode,
    StatusEvent,
    Topology,
    TransportState,
)
from lgsp.errors import (
    BrokerError,
    CaptureError,
    ConfigError,
    DecodeError,
    DeliveryError,
    DocumentRefused,
    LgspError,
    LifecycleError,
    Rejected,
    RunAborted,
    SampleError,
    SendFailed,
    SignatureError,
    StageFailed,
)
from lgsp.metrics import RunMetrics, build_report
from lgsp.profiles import load_topology
from lgsp.signing import Pki, SignatureAlgorithm, SignatureVerifier

__version__ = "0.1.0"

__all__ = [
    "Agency",
    "AgencyCode",
    "AvroCodec",
    "BrokerConfig",
    "BrokerError",
    "CaptureError",
    "ConfigError",
    "DecodeError",
    "DeliveryError",
    "Document",
    "DocumentRefused",
    "EmbeddedBroker",
    "EventCodec",
    "FileSchemaRegistry",
    "LgspError",
    "LifecycleError",
    "Pki",
    "RecipientConfig",
    "Rejected",
    "RunAborted",
    "RunMetrics",
    "SampleError",
    "SendFailed",
    "SignatureAlgorithm",
    "SignatureError",
    "SignaturePolicy",
    "SignatureVerifier",
    "SignedDocument",
    "StageFailed",
    "StatusCode",
    "StatusEvent",
    "Topology",
    "TransportState",
    "build_report",
    "load_topology",
]
