"""Readable tables of a run report (rich, on stdout)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table


def _pct(x: float) -> str:
    return f"{x * 100:.2f} %"


def _lat(summary: dict[str, Any]) -> str:
    if not summary.get("count"):
        return "-"
    return f"{summary['p50']:.1f} / {summary['p99']:.1f} / {summary['max']:.1f}"


def _lat_short(summary: dict[str, Any]) -> str:
    """p50/p99/max in ms, compact (a routing row must fit 100 columns)."""
    if not summary.get("count"):
        return "-"
    return "/".join(f"{summary[k]:.1f}" if summary[k] < 10 else f"{summary[k]:.0f}"
                    for k in ("p50", "p99", "max"))


def _throughput(totals: dict[str, Any], load: dict[str, Any] | None) -> str:
    """Documents/s and what the seconds are: schedule start → every delivery settled."""
    text = (f"{totals['documents_per_s']} documents/s over {totals['duration_s']:g} s "
            "(schedule start → every delivery settled")
    if load and load.get("last_document_s") is not None:
        text += (f"; the {load['duration_s']:g} s schedule's last document was due at "
                 f"{load['last_document_s']:g} s")
    return text + ")"


def _bus_only_lines(console: Console, seen: dict[str, Any]) -> None:
    """What a bus-only run saw, before the usual tables (whose documents are the seen ones)."""
    timed = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in seen["timed_by"].items()) or "-"
    statuses = " · ".join(f"{code} {n}" for code, n in seen["statuses"].items()) or "none"
    first = seen["first_document_after_s"]
    console.print(f"bus-only: saw {seen['documents_seen']} documents ({seen['deliveries_seen']} "
                  f"deliveries) submitted to {seen['inbound']}"
                  + (f", the first {first:g} s after it began listening" if first is not None
                     else "") + f"; ended by {seen['ended_by']} after {seen['listened_s']:g} s; "
                  f"trusts {seen['trust']}")
    console.print(f"send time taken from: {timed} · statuses back to the senders: {statuses}"
                  + (f" · submitted again {seen['submitted_again']}"
                     if seen["submitted_again"] else ""))


def render_report(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=None if Console().is_terminal else 150)
    run, totals, signing = report["run"], report["totals"], report["signing"]
    cfg = run["config"]
    what = ("bus-only (no senders)" if report.get("bus_only") else
            f"seed {cfg['seed']} · {cfg['signature_algorithm']} · {run.get('workers', 1)} "
            "worker(s)")
    console.print(f"[bold]lgsp simulate[/] run {run['run_id']} on the {run['broker']} broker "
                  f"({run['bootstrap']}) · profiles {', '.join(cfg['profiles'])} · "
                  f"{report['topology']['agencies']} agencies · {what}")
    if run.get("stopped_early"):
        console.print("[bold red]interrupted[/]: " + (
            "the bus-only run stopped listening on Ctrl-C; every figure covers what it saw "
            "before" if report.get("bus_only") else "the schedule was stopped by Ctrl-C; every "
            "figure covers what was sent before it") + " (exit 130)")
    load = report.get("load")
    if report.get("bus_only"):
        _bus_only_lines(console, report["bus_only"])
    if load:
        console.print(f"load: {load.get('spec', load.get('shape'))} · peak "
                      f"{load.get('peak_rate'):g} /s · {load.get('duration_s'):g} s · warm-up "
                      f"{cfg.get('warmup_s', 0):g} s excluded from latency")

    t = Table(title="Deliveries (document × recipient): 01 delivered, 06 completed, "
                    "02 rejected, FAIL undeliverable, dupes absorbed", title_justify="left",
              box=box.SIMPLE_HEAD)
    for col in ("documents", "deliveries", "01", "06", "02", "FAIL", "lost", "incomplete",
                "dupes", "dead letters"):
        t.add_column(col, justify="right")
    t.add_row(*(str(totals[k]) for k in ("documents", "sent", "delivered", "completed", "rejected",
                                         "undeliverable", "lost", "incomplete",
                                         "duplicates_absorbed", "dead_letters")))
    console.print(t)
    console.print(f"send→01 p50/p99/max {_lat(totals['send_to_arrived_ms'])} ms · "
                  f"send→06 {_lat(totals['send_to_completed_ms'])} ms · "
                  + (f"{totals['duration_s']:g} s listening" if report.get("bus_only") else
                     f"{_throughput(totals, load)} · "
                     f"schedule lag p99 {report['schedule']['lag_ms']['p99']} ms"))

    _latency_table(console, report)
    s = Table(title="Signing", title_justify="left")
    for col in ("tier", "documents", "personal signed", "agency signed", "both",
                "legally valid at recipient", "verification failures"):
        s.add_column(col, justify="right")
    for tier, st in [("all", signing), *signing["by_tier"].items()]:
        v = st["verification"]
        failures = ", ".join(f"{k} {n}" for k, n in v["failures"].items()) or "0"
        s.add_row(tier, str(st["documents"]), _pct(st["personal_share"]),
                  _pct(st["agency_share"]), _pct(st["both_share"]),
                  _pct(v["legally_valid_share"]), failures)
    console.print(s)
    console.print(f"sign cost per document (µs) mean {signing['sign_cost_us']['mean']} · "
                  f"p99 {signing['sign_cost_us']['p99']}; verify mean "
                  f"{signing['verify_cost_us']['mean']} · p99 {signing['verify_cost_us']['p99']}")
    seal, check = signing.get("seal_cost_us") or {}, signing.get("seal_check_cost_us") or {}
    if seal.get("count") or check.get("count"):
        console.print(f"status seals (µs per status): seal mean {seal.get('mean')} · p99 "
                      f"{seal.get('p99')}; check mean {check.get('mean')} · p99 "
                      f"{check.get('p99')}")

    r = Table(title="Routing: deliveries per route (01 delivered, 06 completed, 02 rejected, "
                    "FAIL undeliverable); latency p50/p99/max ms", title_justify="left",
              box=box.SIMPLE_HEAD, padding=(0, 0))
    routes = [*report["routing"]["routes"],
              *({"route": "all", "path": path, **route}
                for path, route in report["routing"]["by_path"].items())]
    rows = [[route["route"], route["path"], *(str(route[k]) for k in (
        "sent", "delivered", "completed", "rejected", "undeliverable", "lost",
        "duplicates_absorbed")), "-" if route["mean_hops"] is None else str(route["mean_hops"]),
        _lat_short(route["send_to_arrived_ms"]), _lat_short(route["send_to_completed_ms"])]
        for route in routes]
    for i, col in enumerate(("route", "path", "sent", "01", "06", "02", "FAIL", "lost", "dupes",
                             "hops", "send→01", "send→06")):
        # no cell is cut (two routes shown as "central…" were two different routes)
        r.add_column(col, justify="left" if i < 2 else "right", no_wrap=True,
                     min_width=max(len(col), *(len(row[i]) for row in rows)))
    for row, route in zip(rows, routes, strict=True):
        if route["route"] == "all":
            row[:2] = [f"[bold]{row[0]}[/]", f"[bold]{row[1]}[/]"]
        r.add_row(*row)
    console.print(r)
    fan = report["routing"]["fan_out"]
    console.print(f"fan-out mean {fan['mean']} recipients per document")
    for title, key in (("rejections (02)", "rejections"), ("undeliverable",
                                                            "undeliverable_reasons"),
                       ("dead letters", "dead_letters"), ("unexpected statuses",
                                                          "unexpected_statuses")):
        if report[key]:
            console.print(f"{title}: " + ", ".join(f"{k} {n}" for k, n in report[key].items()))
    for kind, by in (report.get("foreign_statuses") or {}).items():
        console.print(f"[yellow]foreign statuses, {kind.replace('_', ' ')}[/]: "
                      + ", ".join(f"{label} {n}" for label, n in by.items()))
    _forged_line(console, report.get("forged_statuses"))
    _faults_table(console, report)
    _system_under_test(console, report)
    _find_max(console, report)
    _slo_table(console, report)


def _forged_line(console: Console, forged: dict[str, Any] | None) -> None:
    """``--status-seals``: how many statuses were checked, and the forged ones by reason."""
    if not forged or not forged["required"]:
        return
    if not forged["forged"]:
        console.print(f"status seals: {forged['checked']} checked, none forged")
        return
    injected = forged["injected"]
    title = "[yellow]forged statuses[/]" if forged["forged"] > injected else "forged statuses"
    console.print(f"{title} ({forged['forged']} of {forged['checked']} "
                  "checked; none moved a lifecycle"
                  + (f"; {injected} sent on purpose by --inject forged-status" if injected
                     else "") + "): "
                  + "; ".join(f"{reason} " + ", ".join(f"{label} {n}" for label, n in by.items())
                              for reason, by in forged["by_reason"].items()))


def _faults_table(console: Console, report: dict[str, Any]) -> None:
    faults = report.get("faults")
    if not faults or not faults["kinds"]:
        return
    t = Table(title="Injected faults (--inject): detection by the bus's own checks"
                    + (" (deliveries to --external parties: see System under test)"
                       if report.get("system_under_test") else ""), title_justify="left")
    for col in ("kind", "unit", "injected", "detected", "missed", "detected by", "expected"):
        t.add_column(col, justify="right" if col in ("injected", "detected", "missed") else "left")
    for kind in faults["kinds"]:
        by = ", ".join(f"{how} {n}" for how, n in kind["by"].items()) or "-"
        if kind["also_dead_lettered"]:
            by += " (+ dead-letter)"
        t.add_row(kind["kind"], kind["unit"], str(kind["injected"]), str(kind["detected"]),
                  f"[red]{kind['missed']}[/]" if kind["missed"] else "0",
                  by if kind["as_expected"] else f"[yellow]{by}[/]", kind["expected"])
    console.print(t)
    share = faults["detection_share"]
    fp = faults["false_positives"]
    console.print(f"faults: {faults['detected']} of {faults['injected']} detected"
                  + (f" ({share:.2%})" if share is not None else "")
                  + "; false positives on clean traffic: "
                  + (", ".join(f"{k} {n}" for k, n in fp.items()) if fp else "none"))


def _system_under_test(console: Console, report: dict[str, Any]) -> None:
    """``--external``: per party, each check with its failures and first example."""
    under_test = report.get("system_under_test")
    if not under_test:
        return
    for party in under_test["parties"]:
        ready = party["ready_after_s"]
        t = Table(title=f"System under test: {party['role']} {party['party']} — "
                        + _party_counts(party)
                        + (f", answered its probe after {ready:g} s" if ready is not None
                           else ""), title_justify="left")
        for col in ("check", "failures", "rule",
                    "first example (document · recipient: expected → came)"):
            t.add_column(col, justify="right" if col == "failures" else "left")
        for check in party["checks"]:
            example = check["examples"][0] if check["examples"] else None
            t.add_row(check["check"],
                      f"[red]{check['failures']}[/]" if check["failures"] else "[green]0[/]",
                      check["rule"],
                      f"{example['document_id']} · {example['recipient']}: "
                      f"{example['expected']} → {example['came']}" if example
                      else "not exercised" if check.get("cases") == 0 else "")
        console.print(t)
        for kind, row in party.get("faults", {}).items():
            if kind == "duplicate-delivery":
                again = row["missed"]
                console.print(f"  fault {kind}: {row['injected']} delivered twice, "
                              f"{row['injected'] - again} absorbed"
                              + (f", [red]{again} answered again[/]" if again else ""))
                continue
            share = row["detection_share"]
            console.print(f"  fault {kind}: {row['refused_right']} of {row['injected']} refused "
                          "with the right reason"
                          + (f" ({share:.0%})" if share is not None else "")
                          + (f", {row['refused_other']} with another" if row["refused_other"]
                             else "")
                          + (f", [red]{row['missed']} accepted[/]" if row["missed"] else ""))
    latency = under_test.get("send_to_arrived_ms")
    hop = under_test.get("hop_ms")
    verdict = "[green]passed[/]" if under_test["passed"] else \
        f"[red]FAILED: {under_test['conformance_failures']} conformance failure(s)[/]"
    console.print(f"system under test: {verdict}"
                  + (f" · send→01 p50/p99/max {_lat(latency)} ms" if latency else "")
                  + (f" · router hop p50/p99/max {_lat(hop)} ms" if hop else ""))


def _party_counts(party: dict[str, Any]) -> str:
    """What a party of the system under test handled, in a few words."""
    if party["role"] == "platform":
        read, written = party["read"], party["written"]
        return (f"read {read['documents']} documents and {read['statuses']} statuses"
                + (f" ({party['records_per_s']:g}/s)" if party.get("records_per_s") else "")
                + f", wrote {written['document']} copies, {written['status']} statuses"
                + (f", {written['fail_status']} FAIL statuses" if written["fail_status"]
                   else ""))
    return (f"{party['deliveries']} deliveries, {party['statuses']} statuses"
            + (f" ({party['statuses_per_s']:g}/s)" if party.get("statuses_per_s") else ""))


def _latency_table(console: Console, report: dict[str, Any]) -> None:
    latency = report.get("latency")
    if not latency:
        return
    t = Table(title="Latency by stage, ms (send→01/06 from the intended send time, on the "
                    "sender's clock; warm-up excluded from send→01/06, produce_ack and hops; "
                    "schedule_lag, sign and verify cover every document)", title_justify="left")
    t.add_column("stage", justify="right", no_wrap=True)
    for col in ("count", "mean", "p50", "p90", "p99", "p99.9", "p99.99", "max"):
        t.add_column(col, justify="right")
    for stage, q in latency.items():
        if q["count"]:
            t.add_row(stage, str(q["count"]), *(f"{q[k]:.3f}" for k in (
                "mean", "p50", "p90", "p99", "p99.9", "p99.99", "max")))
    console.print(t)


def _find_max(console: Console, report: dict[str, Any]) -> None:
    found = report.get("find_max")
    if not found:
        return
    t = Table(title="find-max trials", title_justify="left")
    for col in ("rate /s", "s", "achieved /s", "send→01 p99 ms", "lag p99 ms", "sustained",
                "why not"):
        t.add_column(col, justify="right")
    for trial in found["trials"]:
        too_short = trial.get("too_short")
        verdict = ("[yellow]too short[/]" if too_short else
                   "yes" if trial["sustained"] else "[red]no[/]")
        t.add_row(f"{trial['rate']:.3g}", f"{trial.get('duration_s', 0):g}",
                  f"{trial['achieved_rate']:.3g}", f"{trial['send_to_arrived_p99_ms']:.1f}",
                  f"{trial['schedule_lag_p99_ms']:.1f}", verdict,
                  f"too short to judge the backlog: {too_short}; run again twice as long"
                  if too_short else "; ".join(trial["reasons"]))
    console.print(t)
    console.print(f"[bold]max sustainable rate: {found['max_rate']:.3g} documents/s[/] — "
                  f"{found['decided']}")


def _slo_table(console: Console, report: dict[str, Any]) -> None:
    verdicts = report.get("slo")
    if not verdicts:
        return
    t = Table(title="SLO gates", title_justify="left")
    for col in ("gate", "actual", "verdict", "reason"):
        t.add_column(col)
    for v in verdicts:
        t.add_row(v["expression"], "-" if v.get("actual") is None else f"{v['actual']:g}",
                  "[green]pass[/]" if v["passed"] else "[red]BREACHED[/]", v.get("reason") or "")
    console.print(t)
    breached = sum(not v["passed"] for v in verdicts)
    stopped = report["run"].get("stopped_early")
    console.print(f"SLO: {len(verdicts) - breached} passed, {breached} breached"
                  + (" → exit 6" if breached and not stopped else "")
                  + (" (interrupted run: exit 130 regardless)" if stopped else ""))
