"""The HTML report's "System under test" card (``--external``): per party, each check of the
contract with its failures and first examples, and each injected fault kind's detection."""

from __future__ import annotations

import html
from typing import Any


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def system_under_test_section(report: dict[str, Any]) -> str:
    """The card, or "" for a run without external parties."""
    section = report.get("system_under_test")
    if not isinstance(section, dict) or not section.get("parties"):
        return ""
    passed = bool(section.get("passed"))
    failures = section.get("conformance_failures") or 0
    badge = ('<span class="badge badge-pass">passed</span>' if passed else
             f'<span class="badge badge-fail">{_e(failures)} conformance failure(s)</span>')
    latency = section.get("send_to_arrived_ms") or {}
    hop = section.get("hop_ms") or {}
    parts = [f'<section class="card" id="system-under-test"><h2>System under test {badge}</h2>',
             '<p class="hint">Parties played by your own services (--external), graded on '
             'every delivery and every record routed against the contract (docs/contract.md '
             '§9, §10)'
             + (f"; send → 01 of its deliveries p50 {_e(latency.get('p50'))} ms, p99 "
                f"{_e(latency.get('p99'))} ms" if latency.get("count") else "")
             + (f"; the outside routers' hop p50 {_e(hop.get('p50'))} ms, p99 "
                f"{_e(hop.get('p99'))} ms" if hop.get("count") else "") + ".</p>"]
    parts.extend(_party(party) for party in section["parties"])
    parts.append("</section>")
    return "".join(parts)


def _party(party: dict[str, Any]) -> str:
    ready = party.get("ready_after_s")
    rows = []
    for check in party.get("checks") or []:
        failed = check.get("failures") or 0
        examples = "<br>".join(
            f'<span class="mono">{_e(ex.get("document_id"))}</span> · '
            f'<span class="mono">{_e(ex.get("recipient"))}</span>: expected '
            f'{_e(ex.get("expected"))} → came {_e(ex.get("came"))}'
            for ex in check.get("examples") or [])
        unexercised = "not exercised" if check.get("cases") == 0 else "–"
        rows.append(f'<tr data-check="{_e(check.get("check"))}">'
                    f'<td class="mono">{_e(check.get("check"))}</td>'
                    f'<td class="num{" bad" if failed else ""}">{_e(failed)}</td>'
                    f'<td>{_e(check.get("rule"))}</td><td>{examples or unexercised}</td></tr>')
    faults = []
    for kind, row in (party.get("faults") or {}).items():
        share = row.get("detection_share")
        faults.append(f'<tr><td class="mono">{_e(kind)}</td>'
                      f'<td class="num">{_e(row.get("injected"))}</td>'
                      f'<td class="num">{_e(row.get("refused_right"))}</td>'
                      f'<td class="num">{_e(row.get("refused_other"))}</td>'
                      f'<td class="num{" bad" if row.get("missed") else ""}">'
                      f'{_e(row.get("missed"))}</td>'
                      f'<td class="num">{"–" if share is None else f"{share:.0%}"}</td></tr>')
    fault_table = ("" if not faults else
                   '<table class="data"><thead><tr><th>injected fault</th>'
                   '<th class="num">injected</th><th class="num">refused right</th>'
                   '<th class="num">other reason</th><th class="num">accepted</th>'
                   '<th class="num">share</th></tr></thead>'
                   f'<tbody>{"".join(faults)}</tbody></table>')
    if party.get("role") == "platform":
        read, written = party.get("read") or {}, party.get("written") or {}
        counts = (f'read {_e(read.get("documents"))} documents, {_e(read.get("statuses"))} '
                  f'statuses; wrote {_e(written.get("document"))} copies, '
                  f'{_e(written.get("status"))} statuses, {_e(written.get("fail_status"))} '
                  "FAIL statuses")
    else:
        counts = (f'{_e(party.get("deliveries"))} deliveries, {_e(party.get("statuses"))} '
                  "statuses")
    return (f'<h3>{_e(party.get("role"))} <span class="mono">{_e(party.get("party"))}</span>: '
            + counts
            + (f", answered its probe after {ready:g} s" if ready is not None else "")
            + '</h3><table class="data sut-checks"><thead><tr><th>check</th>'
            '<th class="num">failures</th><th>rule</th><th>first examples</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>{fault_table}')
