"""Routing decisions of LGSPs and VDXP (domain.md §6)."""

import pytest

from lgsp.bus.routing import route_document, route_status
from lgsp.domain import VDXP
from lgsp.profiles import load_topology

H56 = "LGSP-H56"
H26 = "LGSP-H26"
PROVINCE = "000.00.00.H56"
DEPT = "000.00.01.H56"
COMMUNE = "000.01.31.H56"
GOV_OFFICE = "000.00.00.G22"
HD_OFFICE = "000.00.00.H26"


@pytest.fixture(scope="module")
def topo():
    return load_topology(["thanh-hoa", "hai-duong"])


class TestDocuments:
    def test_members_of_the_same_lgsp_are_delivered_locally(self, topo):
        d = route_document(topo, H56, (DEPT, COMMUNE))
        assert d.local == (DEPT, COMMUNE)
        assert d.forward == ()
        assert d.failed == {}

    def test_other_recipients_go_to_vdxp_in_one_packet(self, topo):
        """Local recipients stay; all others travel together to VDXP, listing only them."""
        d = route_document(topo, H56, (DEPT, GOV_OFFICE, HD_OFFICE))
        assert d.local == (DEPT,)
        assert d.forward == ((VDXP, (GOV_OFFICE, HD_OFFICE)),)

    def test_vdxp_fans_out_per_recipient_to_home_platforms(self, topo):
        d = route_document(topo, VDXP, (GOV_OFFICE, HD_OFFICE, PROVINCE))
        assert d.local == (GOV_OFFICE,)
        assert d.forward == ((H26, (HD_OFFICE,)), (H56, (PROVINCE,)))

    def test_vdxp_fails_unknown_recipients(self, topo):
        d = route_document(topo, VDXP, ("000.00.00.H99",))
        assert d.failed == {"000.00.00.H99": "unknown_recipient"}

    def test_lgsp_fails_unknown_code_of_its_own_province_when_strict(self, topo):
        d = route_document(topo, H56, ("000.99.31.H56",))
        assert d.failed == {"000.99.31.H56": "unknown_recipient"}
        assert d.local == ()

    def test_lenient_lgsp_delivers_unknown_code_of_its_own_province(self, topo):
        d = route_document(topo, H56, ("000.99.31.H56",), lenient=True)
        assert d.local == ("000.99.31.H56",)

    def test_malformed_code_is_unknown(self, topo):
        assert route_document(topo, H56, ("nonsense",)).failed == {"nonsense": "unknown_recipient"}

    def test_packet_from_vdxp_for_a_foreign_recipient_is_misrouted(self, topo):
        d = route_document(topo, H56, (HD_OFFICE,), came_from=VDXP)
        assert d.failed == {HD_OFFICE: "misrouted"}


class TestStatuses:
    def test_status_for_a_local_sender_is_delivered_here(self, topo):
        assert route_status(topo, H56, PROVINCE).deliver_here

    def test_status_for_a_remote_sender_goes_to_vdxp_then_home(self, topo):
        assert route_status(topo, H26, PROVINCE).next_platform == VDXP
        assert route_status(topo, VDXP, PROVINCE).next_platform == H56

    def test_status_for_central_sender_is_delivered_at_vdxp(self, topo):
        assert route_status(topo, VDXP, GOV_OFFICE).deliver_here
