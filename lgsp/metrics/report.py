"""The run report: a documented, versioned JSON structure derived from ``RunMetrics``.

Shares are fractions (0..1); latencies are milliseconds; sign/verify costs are microseconds per
document. ``docs/report.md`` describes every field.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from lgsp.metrics.conformance_report import conformance_report
from lgsp.metrics.fault_report import fault_report
from lgsp.metrics.histogram import Histogram
from lgsp.metrics.run import LOCAL, VIA_VDXP, RouteStats, RunMetrics, SigningStats
from lgsp.metrics.stages import Stage
from lgsp.metrics.state import to_state

REPORT_SCHEMA_VERSION = 2
COUNTS = ("sent", "delivered", "completed", "rejected", "undeliverable", "lost", "incomplete",
          "duplicates_absorbed", "recalled", "send_failed")


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _route_dict(stats: RouteStats) -> dict[str, Any]:
    hops = dict(sorted(stats.hops.items()))
    total_hops = sum(hops.values())
    return {
        **{name: getattr(stats, name) for name in COUNTS},
        "hops": {str(k): v for k, v in hops.items()},
        "mean_hops": (round(sum(k * v for k, v in hops.items()) / total_hops, 3)
                      if total_hops else None),  # counted where lgsp-sim's recipients took
        # the documents in: none for a route of deliveries to --external parties only
        "send_to_arrived_ms": stats.send_to_arrived.summary_ms(),
        "send_to_completed_ms": stats.send_to_completed.summary_ms(),
    }


def _signing_dict(s: SigningStats) -> dict[str, Any]:
    return {
        "documents": s.documents,
        "personal_signed": s.personal_signed, "agency_signed": s.agency_signed,
        "both_signed": s.both_signed,
        "personal_share": _share(s.personal_signed, s.documents),
        "agency_share": _share(s.agency_signed, s.documents),
        "both_share": _share(s.both_signed, s.documents),
        "verification": {
            "verified": s.verified_documents,
            "personal_valid": s.personal_valid, "agency_valid": s.agency_valid,
            "legally_valid": s.legally_valid,
            "personal_valid_share": _share(s.personal_valid, s.verified_documents),
            "agency_valid_share": _share(s.agency_valid, s.verified_documents),
            "legally_valid_share": _share(s.legally_valid, s.verified_documents),
            "failures": dict(sorted(s.failures.items())),
        },
    }


def merge_routes(items: list[RouteStats]) -> RouteStats:
    total = RouteStats()
    for stats in items:
        for name in COUNTS:
            setattr(total, name, getattr(total, name) + getattr(stats, name))
        total.hops.update(stats.hops)
        total.send_to_arrived.merge(stats.send_to_arrived)
        total.send_to_completed.merge(stats.send_to_completed)
    return total


def latency_histograms(metrics: RunMetrics, totals: RouteStats) -> dict[str, Histogram]:
    """Every latency/cost histogram of a run by stage name, in the order a document meets them."""
    stages: dict[str, Histogram] = {
        Stage.SCHEDULE_LAG: metrics.schedule_lag, Stage.SIGN: metrics.sign_cost,
        Stage.PRODUCE_ACK: metrics.stages.get(Stage.PRODUCE_ACK) or Histogram()}
    hops = sorted((n, h) for n, h in metrics.stages.items() if n.startswith("hop."))
    stages.update(hops)
    stages[Stage.VERIFY] = metrics.verify_cost
    stages.update((n, metrics.stages[n]) for n in (Stage.SEAL, Stage.SEAL_CHECK)
                  if n in metrics.stages)  # a run that seals statuses (--status-seals)
    stages.update({Stage.SEND_TO_ARRIVED: totals.send_to_arrived,
                   Stage.SEND_TO_COMPLETED: totals.send_to_completed})
    stages.update((n, h) for n, h in sorted(metrics.stages.items()) if n not in stages)
    return stages


def _foreign(metrics: RunMetrics) -> dict[str, dict[str, int]]:
    """``{kind: {status: count}}`` of the statuses the run cannot attribute to its deliveries."""
    out: dict[str, dict[str, int]] = {}
    for key, n in sorted(metrics.foreign_statuses.items()):
        kind, label = key.split("|", 1)
        out.setdefault(kind, {})[label] = n
    return out


def _seals_required(run: dict[str, Any]) -> bool:
    """Whether the run required status seals (a report of before seals: no)."""
    return bool((run.get("config") or {}).get("status_seals_required"))


def _forged(metrics: RunMetrics, required: bool) -> dict[str, Any]:
    """``forged_statuses``: business statuses not sealed by their recipient, by reason and
    status, and how many of them the ``forged-status`` fault sent on purpose."""
    by_reason: dict[str, dict[str, int]] = {}
    for key, n in sorted(metrics.forged_statuses.items()):
        reason, label = key.split("|", 1)
        by_reason.setdefault(reason, {})[label] = n
    checked = metrics.stages.get(Stage.SEAL_CHECK)
    return {"required": required,
            "checked": checked.count if checked is not None else 0,
            "forged": sum(metrics.forged_statuses.values()),
            "injected": metrics.forged_statuses_injected,
            "by_reason": by_reason}


def build_report(metrics: RunMetrics, *, run: dict[str, Any], topology: dict[str, Any],
                 duration_s: float, send_duration_s: float | None = None,
                 load: dict[str, Any] | None = None) -> dict[str, Any]:
    """``duration_s``: first intended send → every delivery settled (end to end);
    ``send_duration_s``: the send phase alone."""
    routes = sorted(metrics.routes.items())
    totals = merge_routes([s for _, s in routes])
    histograms = latency_histograms(metrics, totals)
    by_path = {path: _route_dict(merge_routes([s for r, s in routes if r.path == path]))
               for path in (LOCAL, VIA_VDXP)}
    addressed: Counter[str] = Counter()
    arrived: Counter[str] = Counter()
    for route, stats in routes:
        addressed[route.recipient_tier] += stats.sent
        arrived[route.recipient_tier] += stats.delivered
    fan_out_docs = sum(metrics.fan_out.values())
    # documents this run's senders signed, or (a bus-only run: no senders) those it saw
    documents = metrics.signing.documents + metrics.seen.get("documents", 0)
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "run": run,
        "load": load,
        "topology": topology,
        "totals": {
            "documents": documents,
            **{name: getattr(totals, name) for name in COUNTS},
            "dead_letters": sum(metrics.dead_letters.values()),
            "refused_at_send": sum(metrics.refused_at_send.values()),
            "send_errors": sum(metrics.send_errors.values()),
            "duration_s": round(duration_s, 3),
            "documents_per_s": round(documents / duration_s, 2) if duration_s else 0.0,
            "send_duration_s": round(send_duration_s or 0.0, 3),
            "send_rate_per_s": (round(documents / send_duration_s, 2) if send_duration_s
                                else 0.0),
            "send_to_arrived_ms": totals.send_to_arrived.summary_ms(),
            "send_to_completed_ms": totals.send_to_completed.summary_ms(),
        },
        "signing": {
            **_signing_dict(metrics.signing),
            "sign_cost_us": metrics.sign_cost.summary_us(),
            "verify_cost_us": metrics.verify_cost.summary_us(),
            "seal_cost_us": (metrics.stages.get(Stage.SEAL) or Histogram()).summary_us(),
            "seal_check_cost_us": (metrics.stages.get(Stage.SEAL_CHECK)
                                   or Histogram()).summary_us(),
            "by_tier": {t: _signing_dict(s) for t, s in sorted(metrics.signing_by_tier.items())},
        },
        "routing": {
            "routes": [{"route": r.label, "sender_tier": r.sender_tier,
                        "recipient_tier": r.recipient_tier, "path": r.path, **_route_dict(s)}
                       for r, s in routes],
            "by_path": by_path,
            "fan_out": {
                "mean": round(sum(k * v for k, v in metrics.fan_out.items()) / fan_out_docs, 3)
                if fan_out_docs else 0.0,
                "distribution": {str(k): v for k, v in sorted(metrics.fan_out.items())},
            },
            "platforms": {p: dict(sorted(c.items())) for p, c in sorted(
                metrics.platform_counts.items())},
        },
        "by_tier": {
            tier: {"documents_sent": metrics.documents_by_tier.get(tier, 0),
                   "deliveries_addressed": addressed.get(tier, 0),
                   "deliveries_arrived": arrived.get(tier, 0)}
            for tier in topology.get("tiers", [])
        },
        "schedule": {"lag_ms": metrics.schedule_lag.summary_ms()},
        "schemas": {"document_versions_decoded": {
            str(k): v for k, v in sorted(metrics.content_versions.items())}},
        "rejections": dict(sorted(metrics.rejections.items())),
        "undeliverable_reasons": dict(sorted(metrics.undeliverable_reasons.items())),
        "dead_letters": dict(sorted(metrics.dead_letters.items())),
        "unexpected_statuses": dict(sorted(metrics.unexpected_statuses.items())),
        "foreign_statuses": _foreign(metrics),
        "forged_statuses": _forged(metrics, _seals_required(run)),
        "refused_at_send": dict(sorted(metrics.refused_at_send.items())),
        "faults": fault_report(metrics),
        "system_under_test": conformance_report(metrics, run.get("external_ready_after_s"),
                                                duration_s, run.get("external_platforms") or (),
                                                sealed=_seals_required(run)),
        "latency": {name: h.quantiles_ms() for name, h in histograms.items()},
        "series": metrics.series.report(until_s=duration_s),
        "histograms": {name: h.encode() for name, h in histograms.items()},
        "state": to_state(metrics),
    }
