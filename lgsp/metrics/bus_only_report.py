"""The ``bus_only`` section of a bus-only run's report (``lgsp simulate --bus-only``): what it
saw of traffic it did not send, and why it stopped listening. Delivery outcomes, rejections by
reason, latencies and routes are in the report's usual sections; this one adds what only a
bus-only run has (``docs/report.md``)."""

from __future__ import annotations

from typing import Any

from lgsp.metrics.run import RunMetrics

TRUST_REASONS = ("unknown_certificate", "unknown_issuer")
"""02 reasons that say the recipients do not trust the senders' CA (``--pki``/``--trust-capture``
is not the senders')."""


def _prefixed(metrics: RunMetrics, prefix: str) -> dict[str, int]:
    return {key.removeprefix(prefix): n for key, n in sorted(metrics.seen.items())
            if key.startswith(prefix)}


def bus_only_report(metrics: RunMetrics, facts: dict[str, Any], *, inbound: str,
                    idle_s: float, window_s: float | None, trust: str) -> dict[str, Any]:
    """``facts``: the worker's (``ended_by``, ``listened_s``, ``first_document_after_s``)."""
    untrusted = {reason: metrics.rejections[reason] for reason in TRUST_REASONS
                 if metrics.rejections.get(reason)}
    return {
        "inbound": inbound,
        "trust": trust,
        "idle_s": idle_s,
        "window_s": window_s,
        "ended_by": facts.get("ended_by"),
        "listened_s": facts.get("listened_s"),
        "first_document_after_s": facts.get("first_document_after_s"),
        "documents_seen": metrics.seen.get("documents", 0),
        "deliveries_seen": metrics.seen.get("deliveries", 0),
        "submitted_again": metrics.seen.get("submitted_again", 0),
        "timed_by": _prefixed(metrics, "timed_by|"),
        "statuses": _prefixed(metrics, "statuses|"),
        "untrusted_rejections": untrusted,
    }
