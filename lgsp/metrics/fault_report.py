"""The ``faults`` section of a report: for each injected fault kind, how many were injected,
detected (and by which check) and missed, plus detections on traffic without a fault."""

from __future__ import annotations

from typing import Any

from lgsp.faults import ABSORBED, DEAD_LETTERED, EXPECTED, FaultKind
from lgsp.metrics.run import RunMetrics


def fault_report(metrics: RunMetrics) -> dict[str, Any]:
    kinds = [_kind(metrics, kind) for kind in FaultKind
             if metrics.faults_injected.get(kind.value)]
    false_positives = dict(sorted(metrics.false_positives.items()))
    absorbed = sum(s.duplicates_absorbed for s in metrics.routes.values())
    surplus = absorbed - metrics.duplicate_deliveries_injected
    if surplus > 0:  # deliveries absorbed as duplicates that nobody injected
        false_positives[ABSORBED] = surplus
    injected = sum(k["injected"] for k in kinds)
    detected = sum(k["detected"] for k in kinds)
    return {
        "injected": injected,
        "detected": detected,
        "missed": sum(k["missed"] for k in kinds),
        "detection_share": round(detected / injected, 6) if injected else None,
        "false_positives": false_positives,
        "kinds": kinds,
    }


def _kind(metrics: RunMetrics, kind: FaultKind) -> dict[str, Any]:
    if kind is FaultKind.DUPLICATE_DELIVERY:
        injected = metrics.duplicate_deliveries_injected
        absorbed = sum(s.duplicates_absorbed for s in metrics.routes.values())
        detected = min(absorbed, injected)
        by = {ABSORBED: detected} if detected else {}
        missed, unit = injected - detected, "deliveries"
    else:
        prefix = kind.value + "|"
        by = {key[len(prefix):]: n for key, n in sorted(metrics.faults_detected.items())
              if key.startswith(prefix)}
        injected = metrics.faults_injected[kind.value]
        detected = sum(by.values())
        missed, unit = metrics.faults_missed.get(kind.value, 0), "documents"
    return {
        "kind": kind.value,
        "unit": unit,
        "injected": injected,
        "detected": detected,
        "missed": missed,
        "undecided": injected - detected - missed,
        "expected": EXPECTED[kind],
        "by": by,
        "as_expected": set(by) <= {EXPECTED[kind]},
        "also_dead_lettered": kind in DEAD_LETTERED,
    }
