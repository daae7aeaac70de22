"""SLO gates: parsing ``METRIC OP VALUE``, judging a run report, failing closed without data."""

import copy
import json

import pytest

from lgsp.errors import ConfigError
from lgsp.metrics.histogram import Histogram
from lgsp.metrics.slo import (
    LATENCY_FUNCTIONS,
    SLO_EXIT_CODE,
    Slo,
    SloVerdict,
    check_stages,
    evaluate,
)


def _stage(count, mean, p50, p90, p99, p999, p9999, top):
    return {"count": count, "mean": mean, "p50": p50, "p90": p90, "p99": p99,
            "p99.9": p999, "p99.99": p9999, "max": top}


# `lgsp simulate --documents 100 --rate 50 --sig-alg ed25519` (trimmed), plus the "latency"
# section the report now carries (Histogram.quantiles_ms per stage).
REPORT = {
    "schema_version": 2,
    "totals": {
        "documents": 100, "sent": 301, "delivered": 301, "completed": 301, "rejected": 0,
        "undeliverable": 0, "lost": 0, "incomplete": 0, "duplicates_absorbed": 0,
        "recalled": 0, "send_failed": 0, "dead_letters": 0, "refused_at_send": 0,
        "send_errors": 0, "duration_s": 2.297, "documents_per_s": 43.53,
        "send_duration_s": 1.993, "send_rate_per_s": 50.17,
        "send_to_arrived_ms": {"count": 301, "p50": 90.943, "p90": 134.271, "p99": 199.423,
                               "p999": 255.103, "max": 255.103},
        "send_to_completed_ms": {"count": 301, "p50": 321.023, "p90": 383.487, "p99": 473.087,
                                 "p999": 537.599, "max": 537.599},
    },
    "signing": {"documents": 100, "verification": {
        "verified": 301, "personal_valid": 291, "agency_valid": 301, "legally_valid": 291,
        "failures": {}}},
    "latency": {
        "schedule_lag": _stage(100, 1.402, 0.908, 3.571, 5.107, 6.115, 6.115, 6.115),
        "sign": _stage(100, 0.235, 0.253, 0.29, 0.313, 0.315, 0.315, 0.315),
        "produce_ack": _stage(100, 11.87, 9.471, 21.663, 38.207, 41.279, 41.279, 41.279),
        "hop.1": _stage(301, 44.1, 40.287, 70.975, 99.135, 120.831, 120.831, 120.831),
        "hop.2": _stage(42, 81.3, 77.503, 120.191, 140.031, 140.031, 140.031, 140.031),
        "verify": _stage(301, 0.412, 0.398, 0.51, 0.733, 0.902, 0.902, 0.902),
        "send_to_arrived": _stage(301, 94.8, 90.943, 134.271, 199.423, 255.103, 255.103,
                                  255.103),
        "send_to_completed": _stage(301, 330.2, 321.023, 383.487, 473.087, 537.599, 537.599,
                                    537.599),
        "redelivery": _stage(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    },
}


REPORT["faults"] = {"injected": 25, "detected": 24, "missed": 1, "detection_share": 0.96,
                    "false_positives": {"02 expired": 2}, "kinds": []}


def judge(text, report=REPORT):
    [verdict] = evaluate([Slo.parse(text)], report)
    return verdict


class TestParse:
    @pytest.mark.parametrize(("text", "metric", "op", "threshold"), [
        ("p99(send_to_arrived) < 250ms", "p99(send_to_arrived)", "<", 250.0),
        ("p99.9(send_to_completed) <= 1s", "p99.9(send_to_completed)", "<=", 1000.0),
        ("max(sign) < 5ms", "max(sign)", "<", 5.0),
        ("mean(produce_ack) < 20ms", "mean(produce_ack)", "<", 20.0),
        ("p99.99(hop.2) > 1.5s", "p99.99(hop.2)", ">", 1500.0),
        ("lost == 0", "lost", "==", 0.0),
        ("signature_failures == 0", "signature_failures", "==", 0.0),
        ("documents_per_s >= 1000", "documents_per_s", ">=", 1000.0),
        ("dead_letters == 0", "dead_letters", "==", 0.0),
        ("delivered_share >= 0.999", "delivered_share", ">=", 0.999),
        ("rejected <= 5", "rejected", "<=", 5.0),
        ("send_errors != 3", "send_errors", "!=", 3.0),
    ])
    def test_every_form(self, text, metric, op, threshold):
        """Latency functions over a stage, counters, rates and shares, with all six operators."""
        slo = Slo.parse(text)
        assert (slo.metric, slo.op, slo.threshold) == (metric, op, threshold)
        assert slo.expression == text

    @pytest.mark.parametrize(("value", "ms"), [
        ("250ms", 250.0), ("250", 250.0), ("250us", 0.25), ("250µs", 0.25), ("0.1s", 100.0),
        ("1s", 1000.0), ("1.5 s", 1500.0), ("2e3us", 2.0), (".5ms", 0.5), ("7MS", 7.0),
    ])
    def test_latency_units_convert_to_ms(self, value, ms):
        """us, ms and s all become milliseconds; a bare number is milliseconds."""
        assert Slo.parse(f"p99(send_to_arrived) < {value}").threshold == ms

    def test_whitespace_is_tolerated(self):
        """Spaces around every token (or none) read the same gate."""
        tight = Slo.parse("p99(send_to_arrived)<250ms")
        loose = Slo.parse("  p99 ( send_to_arrived )   <   250 ms  ")
        assert (tight.metric, tight.op, tight.threshold) == (
            loose.metric, loose.op, loose.threshold)
        assert loose.expression == "p99 ( send_to_arrived )   <   250 ms"

    def test_latency_gate_names_its_function_and_stage(self):
        """``function``/``stage`` are set for a latency; a counter has neither."""
        slo = Slo.parse("P99(send_to_arrived) < 250ms")
        assert (slo.kind, slo.function, slo.stage) == ("latency", "p99", "send_to_arrived")
        counter = Slo.parse("lost == 0")
        assert (counter.kind, counter.function, counter.stage) == ("count", None, None)

    def test_share_takes_a_percentage(self):
        """``99.9%`` is the fraction 0.999."""
        assert Slo.parse("delivered_share >= 99.9%").threshold == 0.999
        assert Slo.parse("error_rate < 0.1%").threshold == 0.001

    def test_expression_parses_back(self):
        """A saved verdict's expression is a gate again (``lgsp report r.json`` re-checks it)."""
        slo = Slo.parse(" p99.9(send_to_completed) <= 1s ")
        assert Slo.parse(str(slo)) == slo

    @pytest.mark.parametrize(("text", "message"), [
        ("lost == 0ms", "lost is a count and takes a plain number, not 'ms'"),
        ("documents_per_s >= 10/s", "documents_per_s is a rate per second"),
        ("p99(send_to_arrived) < 5h", "unknown unit 'h' for latency p99(send_to_arrived); "
                                      "use us, ms (default) or s"),
        ("p95(send_to_arrived) < 5ms", "unknown function 'p95'; latency functions are p50, p90, "
                                       "p99, p99.9, p99.99, max, mean"),
        ("lots == 0", "unknown metric 'lots'; known metrics: FUNC(STAGE)"),
        ("p99 < 250ms", "p99 needs a stage, e.g. p99(send_to_arrived)"),
        ("send_to_arrived < 250ms", "a stage needs a function, e.g. p99(send_to_arrived)"),
        ("lost = 0", "unknown operator '='; use one of < <= > >= == !="),
        ("lost =< 0", "unknown operator '=<'"),
        ("0 < lost < 3", "one comparison per gate"),
        ("lost", "expected METRIC OP VALUE"),
        ("< 3", "expected METRIC OP VALUE"),
        ("", "expected METRIC OP VALUE"),
        ("lost == -1", "cannot read value '-1'"),
        ("lost == zero", "cannot read value 'zero'"),
        ("delivered_share >= 99.9", "a share between 0 and 1; did you mean 99.9%?"),
        ("delivered_share >= 0.9ms", "delivered_share is a share"),
        ("p99(send to arrived) < 1ms", "cannot read metric"),
    ])
    def test_errors_say_what_is_accepted(self, text, message):
        """A ConfigError (exit 2) of one line that quotes the gate and says what would do."""
        with pytest.raises(ConfigError) as caught:
            Slo.parse(text)
        line = str(caught.value)
        assert message in line
        assert line.startswith(f"SLO {text.strip()!r}: ")
        assert "\n" not in line
        assert caught.value.exit_code == 2

    def test_unknown_metric_lists_the_known_names(self):
        """The message names every counter, rate, derived metric, function and usual stage."""
        with pytest.raises(ConfigError, match="unknown metric") as caught:
            Slo.parse("latency < 5")
        for name in ("lost", "dead_letters", "documents_per_s", "signature_failures",
                     "delivered_share", "error_rate", "send_to_arrived", "hop.submit", "p99.9"):
            assert name in str(caught.value)


class TestEvaluate:
    @pytest.mark.parametrize(("text", "actual", "passed"), [
        ("p99(send_to_arrived) < 250ms", 199.423, True),
        ("p99.9(send_to_completed) <= 1s", 537.599, True),
        ("max(sign) < 5ms", 0.315, True),
        ("mean(produce_ack) < 20ms", 11.87, True),
        ("p50(hop.2) < 50", 77.503, False),
        ("p99.99(schedule_lag) < 6000us", 6.115, False),
        ("lost == 0", 0, True),
        ("signature_failures == 0", 0, True),
        ("documents_per_s >= 1000", 43.53, False),
        ("dead_letters == 0", 0, True),
        ("delivered_share >= 0.999", 1.0, True),
        ("rejected <= 5", 0, True),
        ("completed >= 301", 301, True),
        ("fault_detection >= 100%", 0.96, False),
        ("faults_missed == 0", 1, False),
        ("false_positives == 0", 2, False),
        ("false_positives <= 2", 2, True),
    ])
    def test_against_a_run_report(self, text, actual, passed):
        """Each gate reads its figure from the report and compares it in the metric's unit."""
        verdict = judge(text)
        assert verdict.actual == pytest.approx(actual)
        assert verdict.passed is passed
        assert verdict.status == ("passed" if passed else "breached")

    def test_verdicts_keep_the_order_of_the_gates(self):
        texts = ["lost == 0", "p99(send_to_arrived) < 100ms", "documents_per_s > 1"]
        verdicts = evaluate([Slo.parse(t) for t in texts], REPORT)
        assert [v.expression for v in verdicts] == texts
        assert [v.passed for v in verdicts] == [True, False, True]

    def test_reason_shows_the_comparison(self):
        """Latencies carry their unit; a breach says the comparison is false."""
        assert judge("p99(send_to_arrived) < 250ms").reason == "199.423 ms < 250 ms"
        assert judge("p99(send_to_arrived) < 0.1s").reason == "199.423 ms < 100 ms is false"
        assert judge("lost == 0").reason == "0 == 0"

    def test_fault_gates_fail_closed_without_injected_faults(self):
        report = copy.deepcopy(REPORT)
        report["faults"] = {"injected": 0, "detected": 0, "missed": 0, "detection_share": None,
                            "false_positives": {}, "kinds": []}
        verdict = judge("fault_detection >= 100%", report)
        assert (verdict.status, verdict.passed) == ("no_data", False)
        assert "--inject" in verdict.reason
        assert judge("false_positives == 0", report).passed  # clean traffic: measurable
        del report["faults"]
        assert judge("false_positives == 0", report).status == "no_data"

    def test_signature_failures_sum_every_reason(self):
        report = copy.deepcopy(REPORT)
        report["signing"]["verification"]["failures"] = {"tampered": 2, "revoked": 1}
        verdict = judge("signature_failures == 0", report)
        assert (verdict.actual, verdict.passed) == (3, False)
        assert judge("signature_failures <= 3", report).passed

    def test_shares_divide_by_deliveries_sent(self):
        """delivered_share = delivered/sent, lost_share = lost/sent, error_rate =
        (lost + undeliverable + rejected + send_failed + dead_letters)/sent."""
        report = copy.deepcopy(REPORT)
        report["totals"].update(sent=200, delivered=190, lost=4, undeliverable=2, rejected=1,
                                send_failed=2, dead_letters=1)
        assert judge("delivered_share >= 0.95", report).actual == pytest.approx(0.95)
        assert judge("lost_share < 1%", report).actual == pytest.approx(0.02)
        assert judge("error_rate < 0.05", report).actual == pytest.approx(10 / 200)
        assert not judge("error_rate < 0.05", report).passed  # 0.05 is not < 0.05

    @pytest.mark.parametrize(("text", "passed"), [
        ("p99(send_to_arrived) < 199.423ms", False),
        ("p99(send_to_arrived) <= 199.423ms", True),
        ("p99(send_to_arrived) > 199.423ms", False),
        ("p99(send_to_arrived) >= 199.423ms", True),
        ("p99(send_to_arrived) == 199423us", True),
        ("p99(send_to_arrived) != 199.423", False),
        ("documents < 100", False),
        ("documents <= 100", True),
        ("documents > 100", False),
        ("documents >= 100", True),
        ("delivered_share < 100%", False),
        ("delivered_share <= 1", True),
    ])
    def test_boundary(self, text, passed):
        """An actual equal to the threshold fails a strict comparison and passes the other."""
        assert judge(text).passed is passed

    def test_unit_converted_before_comparing(self):
        """0.2 s is 200 ms: the p99 of 199.423 ms is under it, and over 199 400 us."""
        assert judge("p99(send_to_arrived) < 0.2s").passed
        assert not judge("p99(send_to_arrived) < 199400us").passed


class TestNoData:
    def test_stage_without_samples_fails_closed(self):
        verdict = judge("p99(redelivery) < 1s")
        assert (verdict.actual, verdict.passed, verdict.status) == (None, False, "no_data")
        assert verdict.reason == "no data: stage 'redelivery' recorded no samples (fails closed)"

    def test_stage_not_in_report_fails_closed_and_lists_the_stages(self):
        """A stage the report does not hold (a typo, or an older report) breaches the gate."""
        verdict = judge("p99(send_to_arived) < 1s")
        assert not verdict.passed
        assert verdict.reason.startswith("no data: stage 'send_to_arived' is not in the report")
        assert "send_to_arrived, send_to_completed" in verdict.reason

    def test_stage_with_a_missing_figure_fails_closed(self):
        report = copy.deepcopy(REPORT)
        del report["latency"]["sign"]["p99.99"]
        verdict = judge("p99.99(sign) < 1ms", report)
        assert verdict.status == "no_data"
        assert verdict.reason == "no data: latency.sign has no p99.99 (fails closed)"

    def test_missing_counter_fails_closed(self):
        report = copy.deepcopy(REPORT)
        del report["totals"]["send_errors"]
        verdict = judge("send_errors == 0", report)
        assert (verdict.passed, verdict.status) == (False, "no_data")
        assert "totals.send_errors is missing" in verdict.reason

    def test_share_with_nothing_sent_fails_closed(self):
        """0/0 is not 100%: with no delivery sent, a share has no value."""
        report = copy.deepcopy(REPORT)
        report["totals"].update(sent=0, delivered=0)
        verdict = judge("delivered_share >= 0.999", report)
        assert verdict.status == "no_data"
        assert "nothing was sent" in verdict.reason
        assert judge("lost_share <= 1", report).status == "no_data"

    def test_no_data_fails_even_a_gate_any_value_would_pass(self):
        report = copy.deepcopy(REPORT)
        del report["signing"]
        verdict = judge("signature_failures >= 0", report)
        assert not verdict.passed
        assert "signing.verification.failures" in verdict.reason

    def test_a_non_number_is_no_data(self):
        report = copy.deepcopy(REPORT)
        report["totals"]["lost"] = None
        assert judge("lost == 0", report).status == "no_data"


class TestReportWithoutLatencySection:
    """A report written before the ``latency`` section: the two end-to-end stages fall back to
    ``totals.send_to_arrived_ms``/``send_to_completed_ms`` (keys p50, p90, p99, p999, max)."""

    @pytest.fixture
    def old_report(self):
        report = copy.deepcopy(REPORT)
        del report["latency"]
        report["schema_version"] = 1
        return report

    @pytest.mark.parametrize(("text", "actual"), [
        ("p50(send_to_arrived) < 1s", 90.943),
        ("p90(send_to_arrived) < 1s", 134.271),
        ("p99(send_to_arrived) < 1s", 199.423),
        ("p99.9(send_to_completed) < 1s", 537.599),
        ("max(send_to_completed) < 1s", 537.599),
    ])
    def test_end_to_end_stages_fall_back_to_totals(self, old_report, text, actual):
        verdict = judge(text, old_report)
        assert (verdict.actual, verdict.passed) == (actual, True)

    @pytest.mark.parametrize("function", ["mean", "p99.99"])
    def test_figures_the_old_summary_lacks_are_no_data(self, old_report, function):
        verdict = judge(f"{function}(send_to_arrived) < 1s", old_report)
        assert verdict.status == "no_data"
        assert f"totals.send_to_arrived_ms (a report without a latency section) has no " \
               f"{function}" in verdict.reason

    def test_other_stages_are_no_data(self, old_report):
        verdict = judge("max(sign) < 5ms", old_report)
        assert verdict.status == "no_data"
        assert "no latency section" in verdict.reason

    def test_old_summary_without_samples_is_no_data(self, old_report):
        old_report["totals"]["send_to_arrived_ms"]["count"] = 0
        assert judge("p99(send_to_arrived) < 1s", old_report).status == "no_data"


class TestVerdictJson:
    def test_to_json(self):
        """Every field, JSON-serialisable; the threshold in the metric's unit (ms)."""
        doc = judge("p99(send_to_arrived) <= 0.25s").to_json()
        assert doc == {"expression": "p99(send_to_arrived) <= 0.25s",
                       "metric": "p99(send_to_arrived)", "op": "<=", "threshold": 250.0,
                       "unit": "ms", "actual": 199.423, "passed": True, "status": "passed",
                       "reason": "199.423 ms <= 250 ms"}
        assert json.loads(json.dumps(doc)) == doc

    def test_no_data_json_has_null_actual(self):
        doc = judge("p99(redelivery) < 1s").to_json()
        assert (doc["actual"], doc["passed"], doc["status"]) == (None, False, "no_data")
        assert json.loads(json.dumps(doc)) == doc

    @pytest.mark.parametrize(("text", "unit"), [
        ("lost == 0", "count"), ("documents_per_s > 1", "per_s"),
        ("delivered_share > 0.5", "share"), ("mean(sign) < 1", "ms"),
    ])
    def test_unit_names_the_metric_kind(self, text, unit):
        assert judge(text).to_json()["unit"] == unit

    def test_verdict_is_a_value(self):
        verdict = judge("lost == 0")
        assert isinstance(verdict, SloVerdict)
        assert verdict == judge("lost == 0")


class TestCheckStages:
    def test_a_stage_no_run_records_is_refused_before_the_run(self):
        """A typo in a stage would otherwise run the whole load and end as "no data" (exit 6)."""
        with pytest.raises(ConfigError) as caught:
            check_stages([Slo.parse("lost == 0"), Slo.parse("p99(send_to_arived) < 3ms")])
        assert str(caught.value).startswith(
            "SLO 'p99(send_to_arived) < 3ms': unknown stage 'send_to_arived'; a run records "
            "schedule_lag, sign, produce_ack, hop.submit")

    @pytest.mark.parametrize("stage", ["send_to_arrived", "hop.lgsp_to_lgsp", "verify"])
    def test_stages_a_run_records_pass(self, stage):
        check_stages([Slo.parse(f"p99({stage}) < 1s")])


def test_exit_code_is_distinct():
    """6: 0 ok, 1 lost/incomplete, 2 usage, 3 bad input, 4 broker, 130 Ctrl-C are taken."""
    assert SLO_EXIT_CODE == 6
    assert SLO_EXIT_CODE not in (0, 1, 2, 3, 4, 130)


def test_functions_match_the_report_histogram_summary():
    """Every latency function is a key ``Histogram.quantiles_ms`` writes to the report."""
    histogram = Histogram()
    for us in (800, 1_200, 5_000):
        histogram.record_us(us)
    summary = histogram.quantiles_ms()
    assert set(LATENCY_FUNCTIONS) <= set(summary)
    report = {"latency": {"stage": summary}, "totals": {}}
    assert judge("max(stage) <= 5ms", report).actual == pytest.approx(5.0, rel=1e-3)


def _faulty_report() -> dict:
    return {"faults": {"kinds": [{"kind": "bad-signature", "injected": 4, "detected": 3},
                                 {"kind": "tampered-content", "injected": 5, "detected": 5}]},
            "system_under_test": {"parties": [
                {"role": "recipient", "faults": {"revoked-certificate":
                                                 {"detection_share": 1.0}}},
                {"role": "recipient", "faults": {"revoked-certificate":
                                                 {"detection_share": 0.5}}},
                {"role": "platform", "checks": []}]}}


@pytest.mark.parametrize(("gate", "status", "reason"), [
    ("fault_detection(bad-signature) >= 1", "breached", "0.75 >= 1 is false"),
    ("fault_detection(tampered-content) >= 100%", "passed", "1 >= 1"),
    ("fault_detection(Bad-Signature) > 0.5", "passed", "0.75 > 0.5"),
    ("sut_fault_detection(revoked-certificate) >= 0.99", "breached",
     "0.5 >= 0.99 is false"),  # the lowest share of the external recipients
    ("fault_detection(expired-certificate) >= 1", "no_data",
     "no data: no expired-certificate fault was injected at the simulator's parties (--inject) "
     "(fails closed)"),
    ("sut_fault_detection(bad-signature) >= 1", "no_data",
     "no data: no bad-signature fault reached an --external recipient (use --external "
     "recipient=… and --inject bad-signature=…) (fails closed)"),
])
def test_a_gate_per_fault_kind_reads_its_detection_share(gate, status, reason):
    (verdict,) = evaluate([Slo.parse(gate)], _faulty_report())
    assert (verdict.status, verdict.reason) == (status, reason)
    assert verdict.unit == "share"


@pytest.mark.parametrize(("gate", "message"), [
    ("fault_detection(bad_signature) >= 1",
     "SLO 'fault_detection(bad_signature) >= 1': unknown fault kind 'bad_signature' for "
     "fault_detection; kinds: bad-signature,"),
    ("sut_fault_detection(revoked-certificate) >= 99ms",
     "SLO 'sut_fault_detection(revoked-certificate) >= 99ms': "
     "sut_fault_detection(revoked-certificate) is a share: give a fraction"),
])
def test_a_bad_fault_kind_gate_is_refused_before_the_run(gate, message):
    with pytest.raises(ConfigError) as caught:
        Slo.parse(gate)
    assert str(caught.value).startswith(message)
