"""The series interval follows the run's length (issue 17: a fixed 5 s gave a 20 s run four
points and a compressed workday three bars)."""

from __future__ import annotations

import math

import pytest

from lgsp.run import SimulationConfig


@pytest.mark.parametrize(("shape", "duration_s", "interval_s"), [
    ("constant", 3.0, 0.1),
    ("constant", 20.0, 1.0),
    ("workday", 20.0, 1.0),
    ("constant", 45.0, 2.0),
    ("constant", 60.0, 2.5),
    ("constant", 3600.0, 5.0),
])
def test_a_run_gets_at_least_20_round_intervals(shape, duration_s, interval_s):
    config = SimulationConfig(documents=None, shape=shape, duration_s=duration_s, rate=20.0)
    assert config.series_interval_s() == interval_s
    assert math.ceil(duration_s / interval_s) >= 20 or interval_s == 5.0
    assert config.to_json()["interval_s"] == interval_s  # the report echoes the one used


def test_an_interval_given_is_kept():
    config = SimulationConfig(documents=None, duration_s=20.0, interval_s=5.0)
    assert config.series_interval_s() == 5.0


def test_the_default_run_of_500_documents_at_20_per_s_gets_1_s():
    assert SimulationConfig().series_interval_s() == 1.0


class TestStatusSeals:
    """--status-seals: auto is on with external recipients or an injected forged-status."""

    @pytest.mark.parametrize(("mode", "external", "inject", "required"), [
        pytest.param("auto", (), [], False, id="auto-plain-run"),
        pytest.param("auto", ("000.00.01.H56",), [], True, id="auto-external-recipient"),
        pytest.param("auto", (), ["forged-status=5%"], True, id="auto-forged-status"),
        pytest.param("auto", (), ["bad-signature=5%"], False, id="auto-other-fault"),
        pytest.param("on", (), [], True, id="on"),
        pytest.param("off", ("000.00.01.H56",), [], False, id="off-with-external"),
    ])
    def test_whether_a_run_requires_seals(self, mode, external, inject, required):
        from lgsp.config import StatusSeals
        from lgsp.external import ExternalParties
        from lgsp.faults import FaultPlan

        config = SimulationConfig(status_seals=StatusSeals(mode),
                                  external=ExternalParties(tuple(external)),
                                  faults=FaultPlan.parse(inject))
        assert config.seals_required is required
        assert config.to_json()["status_seals"] == mode
        assert config.to_json()["status_seals_required"] is required

    def test_off_with_forged_status_is_a_config_error(self):
        from lgsp.config import StatusSeals
        from lgsp.errors import ConfigError
        from lgsp.faults import FaultPlan

        with pytest.raises(ConfigError, match="forged-status needs status seals"):
            SimulationConfig(status_seals=StatusSeals.OFF,
                             faults=FaultPlan.parse(["forged-status=1%"]))

    def test_inject_all_leaves_forged_status_out_only_when_seals_are_off(self):
        from lgsp.faults import FaultKind, FaultPlan

        assert FaultKind.FORGED_STATUS in FaultPlan.parse(["all=1%"]).kinds
        off = FaultPlan.parse(["all=1%"], seals=False)
        assert FaultKind.FORGED_STATUS not in off.kinds
        assert len(off.kinds) == len(FaultKind) - 1
