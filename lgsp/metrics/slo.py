"""SLO gates (like k6/Gatling thresholds), checked against a run report.

A gate is one line, ``METRIC OP VALUE``::

    p99(send_to_arrived) < 250ms        latency: FUNC(STAGE), VALUE in us, ms (default) or s
    p99.9(send_to_completed) <= 1s
    fault_detection(bad-signature) >= 1 share, per injected fault kind (the bus's own checks)
    sut_fault_detection(revoked-certificate) >= 0.99   the same, for --external recipients
    lost == 0                           count: a plain number
    documents_per_s >= 1000             rate: a plain number (per second)
    delivered_share >= 0.999            share: a fraction 0..1 (or a percentage: 99.9%)

``Slo.parse`` rejects what it cannot read (``ConfigError``, exit 2). ``evaluate`` judges each gate
against a report; a metric the report does not hold (a stage that recorded nothing, an older
report without it, nothing sent for a share) is "no data" and fails: gates fail closed. A run
with a breached gate exits ``SLO_EXIT_CODE``. ``docs/slo.md`` is the user's guide.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

from lgsp.errors import ConfigError
from lgsp.metrics.stages import Stage

__all__ = [
    "COUNTERS",
    "DERIVED",
    "LATENCY_FUNCTIONS",
    "LATENCY_STAGES",
    "OPERATORS",
    "RATES",
    "SLO_EXIT_CODE",
    "Slo",
    "SloVerdict",
    "check_stages",
    "evaluate",
]

SLO_EXIT_CODE: Final = 6
"""Exit code of a run with a breached gate (0 ok · 1 lost/incomplete · 2 usage · 3 bad input ·
4 broker unreachable · 130 interrupted are taken)."""

Kind = Literal["latency", "count", "rate", "share"]
Status = Literal["passed", "breached", "no_data"]

OPERATORS: Final[Mapping[str, Callable[[float, float], bool]]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
LATENCY_FUNCTIONS: Final = ("p50", "p90", "p99", "p99.9", "p99.99", "max", "mean")
FAULT_FUNCTIONS: Final = ("fault_detection", "sut_fault_detection")
"""Shares per injected fault kind: ``fault_detection(KIND)`` the bus's own checks
(``faults.kinds[]``), ``sut_fault_detection(KIND)`` the external recipients' (the lowest share of
any of them, ``system_under_test.parties[].faults``)."""
LATENCY_STAGES: Final = tuple(s.value for s in Stage)
"""Every stage a run records (``lgsp.metrics.stages.Stage``; hops are named by what they cross):
a gate for a run is checked against these before it starts (``check_stages``); a saved report's
gates accept any stage the report holds."""
COUNTERS: Final = ("documents", "sent", "delivered", "completed", "rejected", "undeliverable",
                   "lost", "incomplete", "duplicates_absorbed", "recalled", "send_failed",
                   "dead_letters", "refused_at_send", "send_errors")
"""Read from ``report["totals"]``."""
RATES: Final = ("documents_per_s", "send_rate_per_s")
"""Read from ``report["totals"]``, per second."""
ERROR_PARTS: Final = ("lost", "undeliverable", "rejected", "send_failed", "dead_letters")
"""``error_rate`` = the sum of these totals / ``totals.sent``."""
DERIVED: Final[Mapping[str, Kind]] = {
    "signature_failures": "count",  # Σ report["signing"]["verification"]["failures"]
    "delivered_share": "share",     # delivered / sent
    "lost_share": "share",          # lost / sent
    "error_rate": "share",          # (lost + undeliverable + rejected + send_failed
                                    #  + dead_letters) / sent
    "fault_detection": "share",     # report["faults"]["detection_share"] (--inject)
    "faults_missed": "count",       # report["faults"]["missed"]
    "false_positives": "count",     # Σ report["faults"]["false_positives"]
    "conformance_failures": "count",  # report["system_under_test"]["conformance_failures"]
}

_UNITS_MS: Final = {"us": Decimal("0.001"), "µs": Decimal("0.001"), "μs": Decimal("0.001"),
                    "ms": Decimal(1), "s": Decimal(1000)}
_UNIT_OF: Final[Mapping[Kind, str]] = {"latency": "ms", "count": "count", "rate": "per_s",
                                       "share": "share"}
# report["totals"] summaries written before the "latency" section existed (schema_version 1)
_FALLBACK: Final[Mapping[str, str]] = {Stage.SEND_TO_ARRIVED: "send_to_arrived_ms",
                                       Stage.SEND_TO_COMPLETED: "send_to_completed_ms"}
_FALLBACK_KEYS: Final = {"p50": "p50", "p90": "p90", "p99": "p99", "p99.9": "p999", "max": "max"}

_OP_CHARS = re.compile(r"[<>=!]+")
_FUNCTION_FORM = re.compile(r"(?P<function>[A-Za-z][\w.]*)\s*\(\s*(?P<stage>[^()\s]+)\s*\)")
_NAME_FORM = re.compile(r"[A-Za-z_]\w*")
_VALUE = re.compile(r"(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>\S*)")
_EXAMPLE = "e.g. 'p99(send_to_arrived) < 250ms' or 'lost == 0'"


def _known_metrics() -> str:
    names = ", ".join((*COUNTERS, *RATES, *DERIVED))
    return (f"FUNC(STAGE) with FUNC one of {', '.join(LATENCY_FUNCTIONS)} and a STAGE such as "
            f"{', '.join(LATENCY_STAGES)}; or one of {names}")


def _kind_of(name: str) -> Kind | None:
    if name in COUNTERS:
        return "count"
    if name in RATES:
        return "rate"
    return DERIVED.get(name)


@dataclass(frozen=True, slots=True)
class Slo:
    """One parsed gate. ``threshold`` is in the metric's unit: milliseconds for a latency, a
    fraction (0..1) for a share, a plain number for a count or a rate."""

    expression: str          # the text as given (stripped); ``Slo.parse`` reads it back
    metric: str              # canonical name: "p99(send_to_arrived)", "lost"
    kind: Kind
    op: str                  # one of OPERATORS
    threshold: float
    function: str | None = None  # latency only: one of LATENCY_FUNCTIONS
    stage: str | None = None     # latency only: a key of report["latency"]
    fault_kind: str | None = None  # FAULT_FUNCTIONS only: a fault kind (--inject)

    @classmethod
    def parse(cls, text: str) -> Slo:
        """Read ``METRIC OP VALUE``; ``ConfigError`` (one line) names what is accepted."""
        expression = text.strip()

        def bad(why: str) -> ConfigError:
            return ConfigError(f"SLO {expression!r}: {why}")

        ops = list(_OP_CHARS.finditer(expression))
        if not ops:
            raise bad(f"expected METRIC OP VALUE with OP one of {' '.join(OPERATORS)}, "
                      f"{_EXAMPLE}")
        if len(ops) > 1:
            raise bad(f"one comparison per gate (give two --slo for a range), {_EXAMPLE}")
        found = ops[0]
        op = found.group()
        if op not in OPERATORS:
            raise bad(f"unknown operator {op!r}; use one of {' '.join(OPERATORS)}")
        lhs, rhs = expression[:found.start()].strip(), expression[found.end():].strip()
        if not lhs or not rhs:
            raise bad(f"expected METRIC OP VALUE, {_EXAMPLE}")
        if (form := _FUNCTION_FORM.fullmatch(lhs)) is not None \
                and form["function"].lower() in FAULT_FUNCTIONS:
            fault = cls._fault_kind(form["function"].lower(), form["stage"], bad)
            metric = f"{form['function'].lower()}({fault})"
            return cls(expression=expression, metric=metric, kind="share", op=op,
                       threshold=cls._threshold(rhs, metric, "share", bad), fault_kind=fault)
        metric, kind, function, stage = cls._metric(lhs, bad)
        return cls(expression=expression, metric=metric, kind=kind, op=op,
                   threshold=cls._threshold(rhs, metric, kind, bad),
                   function=function, stage=stage)

    @staticmethod
    def _fault_kind(function: str, kind: str, bad: Callable[[str], ConfigError]) -> str:
        from lgsp.faults import FaultKind

        kinds = [k.value for k in FaultKind]
        if kind.lower() not in kinds:
            raise bad(f"unknown fault kind {kind!r} for {function}; kinds: {', '.join(kinds)}")
        return kind.lower()

    @staticmethod
    def _metric(lhs: str, bad: Callable[[str], ConfigError],
                ) -> tuple[str, Kind, str | None, str | None]:
        if form := _FUNCTION_FORM.fullmatch(lhs):
            function, stage = form["function"].lower(), form["stage"]
            if function not in LATENCY_FUNCTIONS:
                raise bad(f"unknown function {form['function']!r}; latency functions are "
                          f"{', '.join(LATENCY_FUNCTIONS)}; per fault kind "
                          f"{', '.join(FAULT_FUNCTIONS)}")
            return f"{function}({stage})", "latency", function, stage
        if not _NAME_FORM.fullmatch(lhs):
            raise bad(f"cannot read metric {lhs!r}; known metrics: {_known_metrics()}")
        name = lhs.lower()
        if (kind := _kind_of(name)) is not None:
            return name, kind, None, None
        if name in LATENCY_FUNCTIONS:
            raise bad(f"{name} needs a stage, e.g. {name}(send_to_arrived)")
        if name in LATENCY_STAGES or name.startswith("hop"):
            raise bad(f"a stage needs a function, e.g. p99({name}); functions are "
                      f"{', '.join(LATENCY_FUNCTIONS)}")
        raise bad(f"unknown metric {lhs!r}; known metrics: {_known_metrics()}")

    @staticmethod
    def _threshold(rhs: str, metric: str, kind: Kind, bad: Callable[[str], ConfigError],
                   ) -> float:
        value = _VALUE.fullmatch(rhs)
        if value is None:
            raise bad(f"cannot read value {rhs!r}; give a number, with us, ms or s for a "
                      "latency (e.g. 250ms, 1.5s)")
        number, unit = Decimal(value["number"]), value["unit"]
        if kind == "latency":
            factor = _UNITS_MS.get(unit.lower() if unit else "ms")
            if factor is None:
                raise bad(f"unknown unit {unit!r} for latency {metric}; use us, ms (default) "
                          "or s")
            return float(number * factor)
        if kind == "share":
            if unit == "%":
                number /= 100
            elif unit:
                raise bad(f"{metric} is a share: give a fraction (0.999) or a percentage "
                          f"(99.9%), not {unit!r}")
            if number > 1:
                raise bad(f"{metric} is a share between 0 and 1; did you mean {number}%?")
            return float(number)
        if unit:
            what = "a count" if kind == "count" else "a rate per second"
            raise bad(f"{metric} is {what} and takes a plain number, not {unit!r} "
                      f"(units us, ms, s are for latencies)")
        return float(number)

    def holds(self, actual: float) -> bool:
        """Whether ``actual`` (in the metric's unit) satisfies the gate."""
        return OPERATORS[self.op](actual, self.threshold)

    def __str__(self) -> str:
        return self.expression


@dataclass(frozen=True, slots=True)
class SloVerdict:
    """A gate judged against a report. ``actual`` is None when the report had no data for the
    metric: such a gate is not ``passed`` (fail closed); ``reason`` says why, in one line."""

    expression: str
    metric: str
    op: str
    threshold: float   # the metric's unit: ms for a latency, a fraction for a share
    actual: float | None
    passed: bool
    reason: str
    unit: str          # "ms", "count", "per_s" or "share"

    @property
    def status(self) -> Status:
        if self.actual is None:
            return "no_data"
        return "passed" if self.passed else "breached"

    def to_json(self) -> dict[str, Any]:
        return {"expression": self.expression, "metric": self.metric, "op": self.op,
                "threshold": self.threshold, "unit": self.unit, "actual": self.actual,
                "passed": self.passed, "status": self.status, "reason": self.reason}


def check_stages(slos: list[Slo], stages: tuple[str, ...] = LATENCY_STAGES) -> None:
    """Refuse, before a run, a latency gate on a stage the run never records: it could only
    end as "no data" (exit 6) after the whole run."""
    for slo in slos:
        if slo.stage is not None and slo.stage not in stages:
            raise ConfigError(f"SLO {slo.expression!r}: unknown stage {slo.stage!r}; a run "
                              f"records {', '.join(stages)}")


def evaluate(slos: list[Slo], report: Mapping[str, Any]) -> list[SloVerdict]:
    """Judge every gate against ``report`` (the run report's dict), in order."""
    verdicts = []
    for slo in slos:
        actual, missing = _measure(slo, report)
        unit = _UNIT_OF[slo.kind]
        if actual is None:
            passed, reason = False, f"no data: {missing} (fails closed)"
        else:
            passed = slo.holds(actual)
            shown = f"{_fmt(actual, slo.kind)} {slo.op} {_fmt(slo.threshold, slo.kind)}"
            reason = shown if passed else f"{shown} is false"
        verdicts.append(SloVerdict(expression=slo.expression, metric=slo.metric, op=slo.op,
                                   threshold=slo.threshold, actual=actual, passed=passed,
                                   reason=reason, unit=unit))
    return verdicts


def _fmt(value: float, kind: Kind) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)
    return f"{text} ms" if kind == "latency" else text


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else value


def _measure(slo: Slo, report: Mapping[str, Any]) -> tuple[float | None, str]:
    """The metric's value, or None and why the report has none."""
    if slo.kind == "latency":
        return _latency(slo, report)
    if slo.fault_kind is not None:
        return _kind_detection(slo.metric.split("(", 1)[0], slo.fault_kind, report)
    if slo.metric in ("fault_detection", "faults_missed", "false_positives"):
        return _fault_figure(slo.metric, report)
    if slo.metric == "conformance_failures":
        value = _number(_dig(report, "system_under_test", "conformance_failures"))
        return (value, "") if value is not None else (
            None, "the report has no system under test (use --external)")
    totals = report.get("totals")
    if not isinstance(totals, Mapping):
        return None, "the report has no totals"
    if slo.metric == "signature_failures":
        failures = _dig(report, "signing", "verification", "failures")
        if not isinstance(failures, Mapping):
            return None, "the report has no signing.verification.failures"
        counts = [_number(v) for v in failures.values()]
        if any(c is None for c in counts):
            return None, "signing.verification.failures holds a value that is not a number"
        return sum(c for c in counts if c is not None), ""
    if slo.kind != "share":
        value = _number(totals.get(slo.metric))
        return (value, "") if value is not None else (None, f"totals.{slo.metric} is missing")
    parts = {"delivered_share": ("delivered",), "lost_share": ("lost",),
             "error_rate": ERROR_PARTS}[slo.metric]
    figures = {name: _number(totals.get(name)) for name in ("sent", *parts)}
    found = [v for v in figures.values() if v is not None]
    if len(found) < len(figures):
        absent = [f"totals.{name}" for name, v in figures.items() if v is None]
        return None, f"{', '.join(absent)} missing"
    sent, *counted = found
    if not sent:
        return None, "nothing was sent (totals.sent is 0)"
    return sum(counted) / sent, ""


def _fault_figure(metric: str, report: Mapping[str, Any]) -> tuple[float | None, str]:
    faults = report.get("faults")
    if not isinstance(faults, Mapping):
        return None, "the report has no faults section (written since fault injection exists)"
    if metric == "false_positives":
        counts = faults.get("false_positives")
        if not isinstance(counts, Mapping):
            return None, "faults.false_positives is missing"
        values = [_number(v) for v in counts.values()]
        return sum(v for v in values if v is not None), ""
    if not faults.get("injected"):
        return None, "no fault was injected (use --inject)"
    value = _number(faults.get("detection_share" if metric == "fault_detection" else "missed"))
    return (value, "") if value is not None else (None, f"faults figure for {metric} is missing")


def _kind_detection(function: str, kind: str,
                    report: Mapping[str, Any]) -> tuple[float | None, str]:
    """The detection share of one injected fault kind: by the bus's own checks, or (``sut_``)
    the lowest of the external recipients'."""
    if function == "fault_detection":
        kinds = _dig(report, "faults", "kinds")
        row = next((k for k in kinds if isinstance(k, Mapping) and k.get("kind") == kind),
                   None) if isinstance(kinds, list) else None
        injected = _number(row.get("injected")) if row is not None else None
        detected = _number(row.get("detected")) if row is not None else None
        if not injected or detected is None:
            return None, f"no {kind} fault was injected at the simulator's parties (--inject)"
        return detected / injected, ""
    parties = _dig(report, "system_under_test", "parties")
    shares = [_number(p["faults"][kind].get("detection_share"))
              for p in (parties if isinstance(parties, list) else [])
              if isinstance(p, Mapping) and isinstance(p.get("faults"), Mapping)
              and isinstance(p["faults"].get(kind), Mapping)]
    found = [share for share in shares if share is not None]
    if not found:
        return None, (f"no {kind} fault reached an --external recipient (use --external "
                      f"recipient=… and --inject {kind}=…)")
    return min(found), ""


def _dig(report: Mapping[str, Any], *keys: str) -> Any:
    node: Any = report
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _latency(slo: Slo, report: Mapping[str, Any]) -> tuple[float | None, str]:
    stage, function = slo.stage or "", slo.function or ""
    latency = report.get("latency")
    summary: Any = latency.get(stage) if isinstance(latency, Mapping) else None
    key = function
    where = f"latency.{stage}"
    if summary is None and stage in _FALLBACK:
        summary = _dig(report, "totals", _FALLBACK[stage])
        where = f"totals.{_FALLBACK[stage]}"
        if isinstance(summary, Mapping):
            key = _FALLBACK_KEYS.get(function, "")
            if not key:
                return None, (f"{where} (a report without a latency section) has no {function}; "
                              f"it has {', '.join(_FALLBACK_KEYS)}")
    if not isinstance(summary, Mapping):
        if isinstance(latency, Mapping):
            stages = ", ".join(latency) or "none"
            return None, f"stage {stage!r} is not in the report (its stages: {stages})"
        return None, f"the report has no latency section, so no stage {stage!r}"
    if summary.get("count") == 0:
        return None, f"stage {stage!r} recorded no samples"
    value = _number(summary.get(key))
    if value is None:
        return None, f"{where} has no {function}"
    return value, ""
