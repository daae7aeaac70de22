"""The bus's contract as an AsyncAPI 3.0 document, built from a run's topology.

What a service outside the simulator needs to take part in a run: the channels (topic patterns per
platform and kind), the messages on them (Kafka key, every ``lgsp-*`` header with its format and
unit, the value as an Avro schema in the Confluent wire format), and the operations of each party
role (agency, platform, certificate authority). ``docs/contract.md`` is the prose of the same
contract, with what the content digest and each signature cover, byte by byte.
"""

from __future__ import annotations

import json
from typing import Any

from lgsp.bus import headers
from lgsp.codec.events import DEAD_LETTER, DOCUMENT, DOCUMENT_EVENT, STATUS_EVENT
from lgsp.codec.registry import SchemaRegistry
from lgsp.domain.topology import VDXP, Topology
from lgsp.faults import RECIPIENT_FAULTS, FaultKind

ASYNCAPI_VERSION = "3.0.0"
AVRO_FORMAT = "application/vnd.apache.avro;version=1.9.0"
AVRO_CONTENT_TYPE = "application/vnd.apache.avro+binary"
KAFKA_BINDING = "0.5.0"
RUN_PARAMETER = {"description": "The run id (``--run-id``): every run has its own topics. A run "
                                "that rotates topics (``--rotate-topics``) inserts a generation, "
                                "``g<N>``, after it: ``lgsp.<run>.g<N>.<platform>.<kind>``."}

_US = "unix time in microseconds (UTC), decimal ASCII"
HEADERS: dict[str, dict[str, Any]] = {
    headers.KIND: {"type": "string", "enum": ["document", "status"],
                   "description": "What the value is: a DocumentEvent or a StatusEvent."},
    headers.ID: {"type": "string", "description":
                 "The DocumentId `<sender code>,<yyyy/MM/dd>,<number>/<notation>` (UTF-8). "
                 "For a status: the document it is about."},
    headers.FROM: {"type": "string", "description":
                   "QCVN 102 code (UTF-8) of the original sender (document) or of who reports "
                   "(status: the recipient agency, or the platform of a transport state)."},
    headers.TO: {"type": "string", "pattern": "^[^,]+(,[^,]+)*$", "description":
                 "Comma-separated QCVN 102 codes this packet is for (document), or the "
                 "addressee, the original sender (status). Never empty."},
    headers.TRACE: {"type": "array", "items": {"type": "string", "pattern": "^.+@[0-9]+$"},
                    "description": "Repeated header, one per hop in order: "
                                   f"`<platform code>@<{_US}>` when the platform handled the "
                                   "record. Senders and recipients add none.",
                    "x-unit": "µs"},
    headers.SENT: {"type": "string", "pattern": "^[0-9]+$", "x-unit": "µs",
                   "description": f"Optional, documents: {_US}, when the sender handed the "
                                  "document to its producer (hop latencies start here)."},
    headers.REPLAY_OF: {"type": "string", "description":
                        "Optional, set by `lgsp replay --rewrite-ids`: the DocumentId inside the "
                        "signed content, while lgsp-id carries the replay's new identity."},
    headers.FAULT: {"type": "string",
                    "enum": [kind.value for kind in FaultKind if kind in RECIPIENT_FAULTS],
                    "description": "Simulation only (`--inject`): the status misbehaviour the "
                                   "simulated recipient is to commit. No check reads it; an "
                                   "external recipient ignores it."},
    headers.TRACEPARENT: {
        "type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        "description": "Optional, W3C Trace Context (only when the run traces, "
                       "`--otlp-endpoint`): the span that caused this record. Every record a "
                       "document causes (forwards, deliveries, statuses) carries its trace; a "
                       "service that handles a record and writes the next one should write the "
                       "traceparent of its own span (child of this one), or pass this one on, so "
                       "it joins the document's trace. Absent when the run does not trace."},
    headers.TRACESTATE: {
        "type": "string",
        "description": "Optional, W3C Trace Context vendor state travelling with traceparent "
                       "(only when it is not empty); pass it on unchanged."},
}
ROUTING_REQUIRED = [headers.KIND, headers.ID, headers.FROM, headers.TO]


def _avro_payload(registry: SchemaRegistry, subject: str) -> dict[str, Any]:
    return {"schemaFormat": AVRO_FORMAT, "schema": registry.latest(subject).definition}


def _kafka_binding(key: str) -> dict[str, Any]:
    return {"kafka": {"key": {"type": "string", "description": key},
                      "schemaIdLocation": "payload", "schemaIdPayloadEncoding": "confluent",
                      "bindingVersion": KAFKA_BINDING}}


def _routing_headers(*names: str) -> dict[str, Any]:
    return {"type": "object", "required": ROUTING_REQUIRED,
            "properties": {name: HEADERS[name] for name in (*ROUTING_REQUIRED, *names)}}


def _messages(registry: SchemaRegistry) -> dict[str, Any]:
    framing = ("Value: Confluent wire format, byte 0 = 0 (magic), bytes 1-4 the registry "
               "schema id (big-endian unsigned), then the Avro binary body.")
    return {
        "document": {
            "name": "DocumentEvent", "title": "A signed document",
            "summary": "Content bytes, their digest and the personal and agency signatures.",
            "description": f"{framing} The content is never re-encoded in transit: platforms "
                           "route on headers only. See docs/contract.md for what the digest "
                           "and each signature cover.",
            "contentType": AVRO_CONTENT_TYPE,
            "headers": _routing_headers(headers.TRACE, headers.SENT, headers.REPLAY_OF,
                                        headers.FAULT, headers.TRACEPARENT, headers.TRACESTATE),
            "payload": _avro_payload(registry, DOCUMENT_EVENT),
            "bindings": _kafka_binding(
                "UTF-8. On an inbound topic: the DocumentId (a forwarded packet keeps it); on a "
                "deliver topic: the recipient's code (per-recipient order)."),
            "x-lgsp-subject": DOCUMENT_EVENT,
        },
        "status": {
            "name": "StatusEvent", "title": "A status travelling back to the original sender",
            "description": f"{framing} A business status (01..06, 13, 15, 16) from the recipient, "
                           "or a transport state (FAIL, with a reason) from a platform.",
            "contentType": AVRO_CONTENT_TYPE,
            "headers": _routing_headers(headers.TRACE, headers.TRACEPARENT, headers.TRACESTATE),
            "payload": _avro_payload(registry, STATUS_EVENT),
            "bindings": _kafka_binding(
                "UTF-8 code of the addressee (the original sender), on every topic, so the "
                "statuses of a (document, recipient) stay in order."),
            "x-lgsp-subject": STATUS_EVENT,
        },
        "deadLetter": {
            "name": "DeadLetter", "title": "A record no stage could process",
            "description": f"{framing} The record is kept whole (key, value, headers) with the "
                           "reason.",
            "contentType": AVRO_CONTENT_TYPE,
            "headers": {"type": "object", "required": ["lgsp-reason"], "properties": {
                "lgsp-reason": {"type": "string", "pattern": "^[a-z0-9_]+$",
                                "description": "Stable snake_case reason (UTF-8), as in the "
                                               "value's reason field."}}},
            "payload": _avro_payload(registry, DEAD_LETTER),
            "bindings": _kafka_binding("The key of the failed record, unchanged."),
            "x-lgsp-subject": DEAD_LETTER,
        },
        "revocation": {
            "name": "Revocation", "title": "A certificate the run's CA revoked",
            "contentType": "application/json",
            "payload": {"type": "object", "required": ["serial", "revoked_at", "reason"],
                        "properties": {
                            "serial": {"type": "string", "pattern": "^[0-9a-f]+$",
                                       "description": "Lower-case hex serial number."},
                            "revoked_at": {"type": "string", "format": "date-time"},
                            "reason": {"type": "string",
                                       "description": "RFC 5280 reason, e.g. keyCompromise."}}},
            "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING}},
        },
    }


def _channel_id(platform: str, kind: str) -> str:
    return f"{platform.lower()}-{kind}"


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


def _channel(address: str, title: str, description: str, *messages: str) -> dict[str, Any]:
    return {"address": address, "title": title, "description": description,
            "parameters": {"run": RUN_PARAMETER},
            "messages": {m: _ref("components", "messages", m) for m in messages}}


def _channels(topology: Topology) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for platform in topology.platforms:
        name = platform.lower()
        where = "the national axis" if platform == VDXP else f"the province's LGSP {platform}"
        channels[_channel_id(platform, "inbound")] = _channel(
            f"lgsp.{{run}}.{name}.inbound", f"{platform} inbound",
            f"What {where} must route: submissions of its member agencies, packets forwarded "
            "by other platforms, and statuses on their way back.", "document", "status")
        channels[_channel_id(platform, "deliver")] = _channel(
            f"lgsp.{{run}}.{name}.deliver", f"{platform} deliver",
            f"What {where} hands to its member agencies, keyed by the agency the record is for.",
            "document", "status")
    channels["dead-letter"] = _channel(
        "lgsp.{run}.dead-letter", "Dead letters",
        "Records no stage could process, kept whole with the reason.", "deadLetter")
    channels["revocations"] = _channel(
        "lgsp.{run}.revocations", "Revocations",
        "The run's CA publishes revoked serials on partition 0; every verifier follows it from "
        "the start for the whole run.", "revocation")
    return channels


def _operation(action: str, role: str, channel: str, messages: list[str],
               summary: str) -> dict[str, Any]:
    return {"action": action, "summary": summary, "tags": [{"name": role}],
            "channel": _ref("channels", channel),
            "messages": [_ref("channels", channel, "messages", m) for m in messages]}


def _operations(topology: Topology) -> dict[str, Any]:
    ops: dict[str, Any] = {}
    for platform in topology.platforms:
        p = platform.lower()
        inbound, deliver = _channel_id(platform, "inbound"), _channel_id(platform, "deliver")
        ops[f"agency-submit-{p}"] = _operation(
            "send", "agency", inbound, ["document"],
            f"A member agency of {platform} submits a signed document (key: DocumentId).")
        ops[f"agency-receive-{p}"] = _operation(
            "receive", "agency", deliver, ["document", "status"],
            f"A member agency of {platform} takes documents addressed to it and statuses of "
            "documents it sent (key: its own code).")
        ops[f"agency-report-{p}"] = _operation(
            "send", "agency", inbound, ["status"],
            f"A recipient agency of {platform} reports 01 (received) or 02 (refused, with a "
            "reason), then 03..06 (key: the original sender).")
        ops[f"platform-route-{p}"] = _operation(
            "receive", "platform", inbound, ["document", "status"],
            f"{platform} routes what arrives on its inbound topic.")
        ops[f"platform-deliver-{p}"] = _operation(
            "send", "platform", deliver, ["document", "status"],
            f"{platform} delivers to its member agencies, adding its lgsp-trace entry.")
        ops[f"platform-forward-to-{p}"] = _operation(
            "send", "platform", inbound, ["document", "status"],
            f"Another platform forwards to {platform} (a province's LGSP only to VDXP; VDXP to "
            "any LGSP), adding its lgsp-trace entry.")
    ops["any-dead-letter"] = _operation(
        "send", "any", "dead-letter", ["deadLetter"],
        "Any stage that cannot process a record (undecodable, unknown schema id, missing "
        "routing headers ...) keeps it here with the reason.")
    ops["ca-revoke"] = _operation(
        "send", "certificate-authority", "revocations", ["revocation"],
        "The run's CA publishes the serials it revoked.")
    ops["verifier-follow-revocations"] = _operation(
        "receive", "agency", "revocations", ["revocation"],
        "Every verifier refuses signatures by a revoked certificate from the moment it read "
        "the entry.")
    return ops


def _schemas(registry: SchemaRegistry) -> dict[str, Any]:
    """Every registered schema version, for readers of older records (the content of a
    DocumentEvent is a vn.gov.lgsp.Document in any of them)."""
    return {f"{s.subject.removeprefix('lgsp.')}-v{s.version}": {
        "schemaFormat": AVRO_FORMAT, "schema": s.definition}
        for subject in registry.subjects for s in registry.versions(subject)}


def build_contract(topology: Topology, registry: SchemaRegistry, *, version: str,
                   profiles: list[str]) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of a run with ``topology``, schemas from ``registry``."""
    ids = {str(s.id): f"{s.subject} v{s.version}"
           for subject in registry.subjects for s in registry.versions(subject)}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "LGSP document-exchange bus",
            "version": version,
            "description": (
                "Topics, keys, headers and Avro payloads of a run of lgsp-sim for the profiles "
                f"{', '.join(profiles)} (platforms {', '.join(topology.platforms)}). The bytes "
                "the content digest and each signature cover, the lifecycle rules and the trust "
                "anchors are in docs/contract.md."),
            "x-lgsp-schema-ids": ids,
            "x-lgsp-content-subject": DOCUMENT,
        },
        "defaultContentType": AVRO_CONTENT_TYPE,
        "servers": {"kafka": {
            "host": "{bootstrap}", "protocol": "kafka",
            "description": "The run's Kafka-compatible cluster (--bootstrap; an embedded run "
                           "prints its address).",
            "variables": {"bootstrap": {"default": "localhost:9092",
                                        "description": "host:port of a broker"}}}},
        "channels": _channels(topology),
        "operations": _operations(topology),
        "components": {"messages": _messages(registry), "schemas": _schemas(registry)},
    }


def dump_contract(document: dict[str, Any], *, as_json: bool) -> str:
    """The document as JSON or YAML text (keys in the order built)."""
    if as_json:
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    import yaml

    class _NoAliases(yaml.SafeDumper):
        """Write a shared part (a header's schema) out in full each time: no &id/*id."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    return str(yaml.dump(document, Dumper=_NoAliases, allow_unicode=True, sort_keys=False,
                         width=100))
