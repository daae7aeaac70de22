"""``lgsp report``: show a saved run, render its HTML, re-check gates; ``lgsp report merge``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from lgsp.cli.options import check_output_files
from lgsp.errors import ConfigError

SECTIONS = ("run", "totals", "topology", "signing", "routing", "schedule", "rejections",
            "undeliverable_reasons", "dead_letters", "unexpected_statuses")
"""Sections of a run report (docs/report.schema.json) the tables and the HTML report read."""


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such report file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(data, dict) or "totals" not in data or "run" not in data:
        raise ConfigError(f"{path}: not an lgsp run report (no run/totals)")
    damaged = [name for name in SECTIONS if not isinstance(data.get(name), dict)]
    if not damaged and not isinstance(data["run"].get("config"), dict):
        damaged = ["run.config"]
    if damaged:
        raise ConfigError(f"{path}: an incomplete lgsp run report (no {', '.join(damaged)} "
                          "section); write it again with lgsp simulate --report")
    return data


def report(
    files: Annotated[list[str], typer.Argument(
        help="A saved JSON report; or 'merge' followed by the reports of the hosts of one load.",
        metavar="REPORT.json | merge REPORT.json...")],
    html: Annotated[Path | None, typer.Option(
        "--html", help="Write the self-contained HTML report to this file.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="merge: write the merged JSON report here.")] = None,
    slo: Annotated[list[str] | None, typer.Option(
        "--slo", help="Check gates against the report (repeatable); breach: exit 6.")] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print the JSON report on stdout instead of tables.")] = False,
) -> None:
    """Show a saved run (tables, --html, --slo gates), or merge the reports of several hosts.

    Examples: lgsp report r.json --html r.html · lgsp report merge host1.json host2.json
    -o all.json --html all.html · lgsp report r.json --slo 'p99(send_to_arrived) < 250ms'.
    Exit codes: 0 ok · 2 unreadable report or bad gate · 6 a gate given with --slo was
    breached (a saved report's own gates are shown again but do not set the exit code).
    """
    from lgsp.cli.outcome import finish
    from lgsp.metrics.report_merge import merge_reports
    from lgsp.metrics.slo import Slo

    check_output_files(html=html, out=out)
    gates = [Slo.parse(text) for text in slo or []]
    if files[0] == "merge":
        paths = [Path(f) for f in files[1:]]
        if not paths:
            raise ConfigError("lgsp report merge needs the reports to merge")
        inputs = [(str(p), _load(p)) for p in paths]
        result = merge_reports(inputs)
        if result["run"].get("merge_warning"):
            typer.echo(f"lgsp: warning: {result['run']['merge_warning']}", err=True)
        # the hosts' own gates are judged again on the whole load unless new ones are given
        result["slo"] = [{"expression": e} for e in dict.fromkeys(
            v["expression"] for _, report in inputs for v in report.get("slo") or [])]
    else:
        if len(files) != 1:
            raise ConfigError("give one report (or: lgsp report merge A.json B.json ...)")
        if out is not None:
            raise ConfigError("--out is for merge; use --html to render a saved report")
        result = _load(Path(files[0]))
    given = bool(gates)
    if not gates and result.get("slo"):
        # a saved run keeps its verdicts: shown again, but only gates given here set the exit
        gates = [Slo.parse(v["expression"]) for v in result["slo"]]
    finish(result, gates, report_path=out, html_path=html, json_out=json_out,
           run_verdict=False, gate_exit=given)
