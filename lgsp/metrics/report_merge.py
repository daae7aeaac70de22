"""Merging the reports of several hosts that ran parts of one load (``lgsp report merge``).

Each report carries the exact state of its metrics (``state``: counters and HDR histograms), so
the merged report is what one host that had seen everything would have written: quantiles are
recomputed from the merged histograms, never averaged.
"""

from __future__ import annotations

import json
from typing import Any

from lgsp.errors import ConfigError
from lgsp.metrics.report import REPORT_SCHEMA_VERSION, build_report
from lgsp.metrics.state import from_state, merge

LOAD_KEYS = ("profiles", "documents", "rate", "shape", "duration_s", "seed", "fan_out_mean",
             "signature_algorithm", "traffic_profile")
"""What every host of one load must have run alike."""


def merge_reports(reports: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """``reports``: (name for errors, report). All must be of one run id and schema version."""
    if not reports:
        raise ConfigError("lgsp report merge needs at least one report")
    for name, report in reports:
        version = report.get("schema_version")
        if version != REPORT_SCHEMA_VERSION:
            raise ConfigError(f"{name}: report schema version {version!r}; this lgsp merges "
                              f"version {REPORT_SCHEMA_VERSION} (rerun with this version)")
        if "state" not in report:
            raise ConfigError(f"{name}: the report carries no metrics state to merge")
    run_ids = {report["run"]["run_id"] for _, report in reports}
    if len(run_ids) > 1:
        raise ConfigError(f"the reports are of different runs ({', '.join(sorted(run_ids))}); "
                          "hosts of one load share --run-id")
    shards = [report["run"].get("host_shard") or "1/1" for _, report in reports]
    if len(set(shards)) != len(shards):
        raise ConfigError(f"host shards {sorted(shards)} repeat: the same host's report twice "
                          "would count its documents twice")
    if len({s.split("/")[-1] for s in shards}) > 1:
        raise ConfigError(f"host shards {sorted(shards)} are parts of differently split loads")
    loads = {json.dumps({k: v for k, v in report["run"].get("config", {}).items()
                         if k in LOAD_KEYS}, sort_keys=True) for _, report in reports}
    if len(loads) > 1:
        raise ConfigError("the reports ran different loads (" + ", ".join(sorted(LOAD_KEYS))
                          + " must match on every host)")
    try:
        metrics = merge([from_state(report["state"]) for _, report in reports])
    except (KeyError, ValueError, AttributeError) as exc:
        raise ConfigError(f"a report's metrics state is unreadable: {exc!r}") from None
    first = reports[0][1]
    runs = [report["run"] for _, report in reports]
    run = {**first["run"],
           "workers": sum(r.get("workers", 1) for r in runs),
           "setup_s": max(r.get("setup_s", 0.0) for r in runs),
           "stopped_early": any(r.get("stopped_early") for r in runs),
           "host_shard": "merged",
           "per_worker": [{**w, "host_shard": r.get("host_shard")} for r in runs
                          for w in r.get("per_worker", [])],
           "merged_from": [{"file": name, "host_shard": report["run"].get("host_shard"),
                            "workers": report["run"].get("workers", 1)}
                           for name, report in reports]}
    totals = [report["totals"] for _, report in reports]
    merged = build_report(
        metrics, run=run, topology=first["topology"],
        duration_s=max(t["duration_s"] for t in totals),
        send_duration_s=max(t["send_duration_s"] for t in totals), load=first.get("load"))
    expected = int(shards[0].split("/")[1])
    if len(shards) != expected:
        merged["run"]["merge_warning"] = (f"merged host shards {sorted(shards)} of {expected}: "
                                          "the figures cover only these hosts' agencies")
    return merged
