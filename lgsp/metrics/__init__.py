"""Counters, HDR histograms and the run report."""

from lgsp.metrics.histogram import Histogram
from lgsp.metrics.report import REPORT_SCHEMA_VERSION, build_report
from lgsp.metrics.run import LOCAL, VIA_VDXP, Route, RouteStats, RunMetrics, SigningStats

__all__ = [
    "LOCAL",
    "REPORT_SCHEMA_VERSION",
    "VIA_VDXP",
    "Histogram",
    "Route",
    "RouteStats",
    "RunMetrics",
    "SigningStats",
    "build_report",
]
