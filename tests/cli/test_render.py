"""Terminal tables of a report are readable at 100 columns (issue 17: route names were cut to
"central…" for two different routes)."""

from __future__ import annotations

import copy
import io

from rich.console import Console

from lgsp.cli.render import render_report
from tests.metrics.test_report_schema import _report


def rendered(width: int) -> str:
    report = _report(1, "1/1")
    # the longest route names of the four tiers, both paths
    routes = report["routing"]["routes"]
    for name, path in (("province->province", "via_vdxp"), ("district->province", "local")):
        routes.append({**copy.deepcopy(routes[0]), "route": name, "path": path})
    out = io.StringIO()
    render_report(report, Console(file=out, width=width, color_system=None))
    return out.getvalue()


def test_route_names_and_figures_are_never_cut_at_100_columns():
    text = rendered(100)
    assert "…" not in text, text
    routing = text[text.index("Routing"):text.index("fan-out")]
    for name in ("province->district", "commune->central", "province->province",
                 "district->province"):
        assert name in routing, routing
    assert max(map(len, routing.splitlines())) <= 100


def test_what_the_throughput_seconds_are_is_said():
    text = " ".join(rendered(150).split())  # the line wraps
    assert ("documents/s over 5.5 s (schedule start → every delivery settled; the 5 s "
            "schedule's last document was due at 4.9 s)") in text, text
    assert "warm-up 1 s excluded from latency" in text


def test_forged_statuses_and_seal_costs_are_said():
    """A run that requires seals: the seal and check cost per status, and the forged statuses
    by reason, with how many the forged-status fault sent on purpose."""
    text = " ".join(rendered(150).split())
    assert "status seals (µs per status): seal mean" in text
    assert ("forged statuses (2 of 50 checked; none moved a lifecycle; 1 sent on purpose by "
            "--inject forged-status): sealed_by_other 06 1; unsealed 01 1") in text, text
