"""QCVN 102 agency codes and their parent chains."""

import pytest

from lgsp.domain import AgencyCode
from lgsp.errors import ConfigError


class TestAgencyCode:
    def test_province_office_is_a_level_one_unit(self):
        """000.00.00.H56 is Thanh Hóa's level-1 unit with no parent."""
        code = AgencyCode("000.00.00.H56")
        assert code.unit == "H56"
        assert code.group == "H"
        assert code.depth == 1
        assert code.parent is None

    def test_commune_chain_climbs_to_the_province(self):
        """A commune's chain is commune → district → province, derived from the code alone."""
        chain = [c.value for c in AgencyCode("000.05.31.H56").chain()]
        assert chain == ["000.05.31.H56", "000.00.31.H56", "000.00.00.H56"]

    def test_level_four_code_has_depth_four(self):
        """The leading group is level 4; its parent zeroes it."""
        code = AgencyCode("012.05.31.H56")
        assert code.depth == 4
        assert code.parent == AgencyCode("000.05.31.H56")

    @pytest.mark.parametrize("bad", [
        pytest.param("00.00.00.H56", id="short-level4"),
        pytest.param("000.00.00.56", id="no-group-letter"),
        pytest.param("000.00.00.h56", id="lower-case"),
        pytest.param("000-00-00-H56", id="dashes"),
        pytest.param("", id="empty"),
    ])
    def test_malformed_codes_are_refused_with_the_expected_form(self, bad):
        """A malformed code raises ConfigError naming the DDD.DD.DD.LDD form."""
        with pytest.raises(ConfigError, match=r"DDD\.DD\.DD\.LDD"):
            AgencyCode(bad)
