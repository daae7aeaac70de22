"""The end of a command that produced a run report: gates, files, tables, exit code.

Exit codes: 130 an interrupted run (its report is still written) · 6 an SLO gate breached ·
1 deliveries lost, incomplete or not sent, an external party (``--external``) failed a
conformance check, forged statuses came (not sealed by their recipient, when the run requires
seals; those ``--inject forged-status`` sent are expected), statuses came that the run cannot
attribute (documents it did not send, a party answering for another; unless
``--allow-foreign-statuses``), or a bus-only run saw no document or refused documents for want
of trust in the senders' CA · 0 otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from lgsp.cli.render import render_report
from lgsp.metrics.html_report import render_html
from lgsp.metrics.slo import SLO_EXIT_CODE, Slo, evaluate


def finish(result: dict[str, Any], gates: list[Slo], *, report_path: Path | None,
           html_path: Path | None, json_out: bool, run_verdict: bool = True,
           gate_exit: bool = True) -> None:
    """Evaluate the gates, write and show the report, exit with the verdict.

    ``run_verdict``: also exit 130 for an interrupted run and 1 for lost or incomplete
    deliveries (a live run); a saved report is judged by its gates alone. ``gate_exit``: a
    breached gate exits 6 (not when a saved report's own verdicts are merely shown again)."""
    verdicts = evaluate(gates, result)
    result["slo"] = [v.to_json() for v in verdicts]
    if report_path is not None:
        report_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n",
                               encoding="utf-8")
    if html_path is not None:
        html_path.write_text(render_html(result), encoding="utf-8")
    if json_out:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        render_report(result)
        for path, what in ((report_path, "JSON report"), (html_path, "HTML report")):
            if path is not None:
                print(f"{what} written to {path}")
        recorded = result["run"].get("recorded")
        if recorded:
            print(f"capture written to {recorded['file']} ({recorded['records']} records; "
                  f"play it back with lgsp replay {recorded['file']} --bootstrap HOST:PORT)")
    if not run_verdict:
        if gate_exit and any(not v.passed for v in verdicts):
            raise typer.Exit(SLO_EXIT_CODE)
        return
    if result["run"].get("error"):
        print(f"lgsp: error: {result['run']['error']} (the report covers what was confirmed "
              "before)", file=sys.stderr)
        raise typer.Exit(int(result["run"].get("exit_code") or 1))
    if result["run"].get("stopped_early"):
        print("lgsp: interrupted; " + ("the bus-only run stopped listening" if
                                       result.get("bus_only") else "the schedule was stopped")
              + ", in-flight work drained, and the report covers what was done", file=sys.stderr)
        raise typer.Exit(130)
    if any(not v.passed for v in verdicts):
        raise typer.Exit(SLO_EXIT_CODE)
    _warn_of_a_second_router(result)
    under_test = result.get("system_under_test")
    if under_test and not under_test["passed"]:
        _say_what_failed(under_test)
    if result.get("bus_only"):
        _bus_only_verdict(result["bus_only"])
    _forged_verdict(result.get("forged_statuses"))
    totals = result["totals"]
    if totals["lost"] or totals["incomplete"] or totals["send_failed"]:
        raise typer.Exit(1)
    foreign = result.get("foreign_statuses") or {}
    if foreign and not (result["run"].get("config") or {}).get("allow_foreign_statuses"):
        counts = ", ".join(f"{sum(by.values())} {kind.replace('_', ' ')}"
                           for kind, by in foreign.items())
        print(f"lgsp: statuses this run cannot attribute to its deliveries: {counts} (see "
              "'foreign statuses' in the report; --allow-foreign-statuses accepts them)",
              file=sys.stderr)
        raise typer.Exit(1)
    if under_test and not under_test["passed"]:
        raise typer.Exit(1)


def _warn_of_a_second_router(result: dict[str, Any]) -> None:
    """Deliveries absorbed as duplicates that no fault injected and no restart explains: most
    likely someone else's router also routes this run's platforms (an outside router that was
    meant to be graded with --external platform=…)."""
    injected = sum(k["injected"] for k in (result.get("faults") or {}).get("kinds", [])
                   if k.get("kind") == "duplicate-delivery")
    surplus = (result["totals"].get("duplicates_absorbed") or 0) - injected
    if surplus <= 0 or result["run"].get("bus_workers") or result["run"].get("restarts"):
        return
    print(f"lgsp: warning: {surplus} deliveries arrived twice (absorbed by their recipients) "
          "though no duplicate was injected and nothing restarted: is another router routing "
          "this run's platforms? To grade your own router, give it to lgsp-sim with "
          "--external platform=LGSP-… or --external vdxp", file=sys.stderr)


def _forged_verdict(forged: dict[str, Any] | None) -> None:
    """A run that requires status seals fails (exit 1) on a forged status the forged-status
    fault did not send on purpose: someone answered for a recipient, or a recipient did not
    seal (docs/contract.md §7a)."""
    if not forged or forged["forged"] <= forged["injected"]:
        return
    counts = ", ".join(f"{reason} {sum(by.values())}"
                       for reason, by in forged["by_reason"].items())
    unexplained = forged["forged"] - forged["injected"]
    print(f"lgsp: {unexplained} forged status(es): business statuses not sealed by the recipient "
          f"they are about ({counts}"
          + (f"; {forged['injected']} of them injected by --inject forged-status"
             if forged["injected"] else "")
          + "); none moved a lifecycle — see 'forged statuses' in the report", file=sys.stderr)
    raise typer.Exit(1)


def _bus_only_verdict(seen: dict[str, Any]) -> None:
    """A bus-only run fails (exit 1) when it saw nothing, or when its recipients refused
    documents because they do not trust the senders' CA (a misconfigured run, not traffic)."""
    if not seen["documents_seen"]:
        print(f"lgsp: the bus-only run saw no document submitted to {seen['inbound']} in "
              f"{seen['listened_s']:g} s (ended by {seen['ended_by']})", file=sys.stderr)
        raise typer.Exit(1)
    untrusted = seen["untrusted_rejections"]
    if untrusted:
        counts = ", ".join(f"02 {reason} {n}" for reason, n in untrusted.items())
        print(f"lgsp: {sum(untrusted.values())} of {seen['deliveries_seen']} deliveries were "
              f"rejected because this run does not trust the senders' certificates ({counts}); "
              f"it trusts {seen['trust']}: give --pki DIR of the senders' CA or "
              "--trust-capture FILE of their run", file=sys.stderr)
        raise typer.Exit(1)


def _say_what_failed(under_test: dict[str, Any]) -> None:
    """One line per external party that left deliveries unanswered, then the verdict."""
    for party in under_test["parties"]:
        unanswered = sum(c["failures"] for c in party["checks"] if c["check"] == "answered")
        if unanswered:
            print(f"lgsp: no answer from {party['role']} {party['party']} within --ack-timeout "
                  f"for {unanswered} of its {party['deliveries']} deliveries", file=sys.stderr)
    print(f"lgsp: the system under test failed {under_test['conformance_failures']} "
          "conformance check(s); see 'System under test' in the report", file=sys.stderr)
