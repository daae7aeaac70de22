"""Topology profiles: sizes of the real provinces, unique codes, derivable parents."""

import pytest

from lgsp.domain import VDXP, AgencyCode
from lgsp.errors import ConfigError
from lgsp.profiles import available_profiles, load_topology


class TestProfiles:
    def test_thanh_hoa_has_its_real_sizes(self):
        """Thanh Hóa: UBND tỉnh + 20 departments, 27 districts, 559 communes; 30 central bodies."""
        topo = load_topology(["thanh-hoa"])
        assert topo.counts_by_tier() == {"central": 30, "province": 21, "district": 27,
                                         "commune": 559}
        assert topo.provinces["LGSP-H56"].office == "000.00.00.H56"

    def test_hai_duong_has_its_real_sizes(self):
        """Hải Dương: 12 districts and 235 communes."""
        province = load_topology(["hai-duong"]).provinces["LGSP-H26"]
        assert len(province.districts) == 12
        assert sum(len(c) for c in province.communes.values()) == 235

    def test_central_tier_includes_the_government_office(self):
        """G22 is the Government Office (Văn phòng Chính phủ), home platform VDXP."""
        agency = load_topology(["thanh-hoa"]).agency("000.00.00.G22")
        assert agency.name == "Văn phòng Chính phủ"
        assert agency.platform == VDXP

    def test_every_parent_chain_stays_inside_the_topology(self):
        """Each agency's parent (from its code) is an agency of the same province."""
        topo = load_topology(["thanh-hoa", "hai-duong"])
        for code, agency in topo.agencies.items():
            parent = AgencyCode(code).parent
            if parent is not None:
                assert topo.agencies[parent.value].platform == agency.platform

    def test_communes_are_children_of_their_district(self):
        """A commune's code parent is the district that lists it."""
        topo = load_topology(["thanh-hoa"])
        district = topo.provinces["LGSP-H56"].districts[0]
        for commune in topo.children(district):
            assert AgencyCode(commune).parent == AgencyCode(district)

    def test_combining_provinces_keeps_them_apart(self):
        """Two provinces in one run: two LGSPs, and VDXP."""
        topo = load_topology(["thanh-hoa", "hai-duong"])
        assert topo.platforms == [VDXP, "LGSP-H56", "LGSP-H26"]
        assert len(topo.agencies) == 30 + 607 + 267

    def test_unknown_profile_is_refused_with_the_available_names(self):
        """The error lists the profiles that exist."""
        with pytest.raises(ConfigError, match="thanh-hoa"):
            load_topology(["da-nang"])

    def test_the_same_province_twice_is_refused(self):
        with pytest.raises(ConfigError, match="given twice"):
            load_topology(["thanh-hoa", "thanh-hoa"])

    def test_shipped_profiles_are_listed(self):
        assert available_profiles() == ["hai-duong", "thanh-hoa", "thanh-hoa-2024"]
