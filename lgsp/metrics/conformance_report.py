"""The report's "System under test" section: how each external party (``--external``) did.

An outside router (role ``platform``) has a row of its own: records read and written, the
contract's routing checks (``lgsp.conformance.PlatformCheck``); the latency of its hop is the
section's ``hop_ms``.

Per party: the deliveries it was sent and the statuses it answered with, whether it answered its
readiness probe and after how long, each check of the contract (``lgsp.conformance.Check``) with
its failures and the first examples, and each injected fault kind (``--inject``) with how often
the party refused it with the right reason. ``passed`` only when no check failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from lgsp.conformance import CHECK_TEXT, PLATFORM_CHECK_TEXT, Check, PlatformCheck
from lgsp.metrics.run import RunMetrics
from lgsp.metrics.stages import Stage

FAULT_OUTCOMES = ("injected", "refused_right", "refused_other", "missed")
ABSORBED_KIND = "duplicate-delivery"
"""A fault to absorb, not refuse: its ``missed`` are redeliveries answered again (which also
fail ``one_status_per_step``)."""


def conformance_report(metrics: RunMetrics, ready_after_s: dict[str, float] | None = None,
                       duration_s: float | None = None, platforms: Sequence[str] = (), *,
                       sealed: bool = True) -> dict[str, Any] | None:
    """The section, or None for a run without external parties. ``duration_s``: the run's
    (first intended send → settled), for each party's throughput; ``platforms``: the parties
    that are outside routers (``--external platform=…``/``vdxp``), the others are recipients.
    ``sealed``: the run required status seals, so recipients are graded on ``status_sealed``
    (not listed otherwise)."""
    parties = sorted({key.split("|", 1)[0] for key in metrics.external}
                     | {key.split("|", 1)[0] for key in metrics.conformance_failures}
                     | set(ready_after_s or {}) | set(platforms))
    if not parties:
        return None
    rows = [_router(metrics, party, (ready_after_s or {}).get(party), duration_s)
            if party in platforms else
            _party(metrics, party, (ready_after_s or {}).get(party), duration_s, sealed)
            for party in parties]
    failures = sum(row["failures"] for row in rows)
    latency = metrics.stages.get(Stage.EXTERNAL_SEND_TO_ARRIVED)
    hop = metrics.stages.get(Stage.EXTERNAL_HOP)
    return {
        "parties": rows,
        "conformance_failures": failures,
        "passed": failures == 0,
        "send_to_arrived_ms": latency.summary_ms() if latency is not None else None,
        "hop_ms": hop.summary_ms() if hop is not None and platforms else None,
    }


def _checks(metrics: RunMetrics, party: str,
            checks: dict[Check, str] | dict[PlatformCheck, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for check, rule in checks.items():
        key = f"{party}|{check.value}"
        failed = metrics.conformance_failures.get(key, 0)
        rows.append({
            "check": check.value, "rule": rule, "failures": failed, "passed": failed == 0,
            "examples": [dict(zip(("document_id", "recipient", "expected", "came"), example,
                                  strict=True))
                         for example in metrics.conformance_examples.get(key, [])]})
    return rows


def _router(metrics: RunMetrics, party: str, ready_after_s: float | None,
            duration_s: float | None) -> dict[str, Any]:
    """An outside router's row: what it read and wrote, its checks (platform audit)."""
    counts = {key.split("|", 1)[1]: n for key, n in metrics.external.items()
              if key.split("|", 1)[0] == party}
    read = {what: counts.get(f"read|{what}", 0) for what in ("documents", "statuses",
                                                             "unroutable")}
    written = {what: counts.get(f"written|{what}", 0) for what in ("document", "status",
                                                                   "fail_status")}
    checks = _checks(metrics, party, PLATFORM_CHECK_TEXT)
    for check in checks:  # 0: this run's traffic never gave the check a case
        check["cases"] = counts.get(f"cases|{check['check']}", 0)
    failures = sum(c["failures"] for c in checks)
    return {
        "party": party,
        "role": "platform",
        "ready_after_s": None if ready_after_s is None else round(ready_after_s, 3),
        "read": read,
        "written": written,
        "records_per_s": round(sum(read.values()) / duration_s, 2) if duration_s else None,
        "checks": checks,
        "failures": failures,
        "passed": failures == 0,
    }


def _share(kind: str, counts: Counter[str]) -> float | None:
    """Refused with the right reason — or, for a redelivery, absorbed (not answered again)."""
    injected = counts.get("injected", 0)
    if not injected:
        return None
    right = injected - counts.get("missed", 0) if kind == ABSORBED_KIND \
        else counts.get("refused_right", 0)
    return round(right / injected, 4)


def _party(metrics: RunMetrics, party: str, ready_after_s: float | None,
           duration_s: float | None, sealed: bool) -> dict[str, Any]:
    counts = {key.split("|", 1)[1]: n for key, n in metrics.external.items()
              if key.split("|", 1)[0] == party}
    checks = _checks(metrics, party, {check: rule for check, rule in CHECK_TEXT.items()
                                      if sealed or check is not Check.STATUS_SEALED})
    faults: dict[str, Counter[str]] = {}
    for what, n in counts.items():
        if what.startswith("fault|"):
            _, kind, outcome = what.split("|")
            faults.setdefault(kind, Counter())[outcome] += n
    failures = sum(c["failures"] for c in checks)
    return {
        "party": party,
        "role": "recipient",
        "ready_after_s": None if ready_after_s is None else round(ready_after_s, 3),
        "deliveries": counts.get("deliveries", 0),
        "statuses": counts.get("statuses", 0),
        "probe_statuses": counts.get("probe_statuses", 0),
        "statuses_per_s": round(counts.get("statuses", 0) / duration_s, 2) if duration_s
        else None,
        "checks": checks,
        "faults": {kind: {**{o: c.get(o, 0) for o in FAULT_OUTCOMES},
                          "detection_share": _share(kind, c)}
                   for kind, c in sorted(faults.items())},
        "failures": failures,
        "passed": failures == 0,
    }
