"""Thanh Hóa as of October 2024 (issue 17): the profile's signature shares come out of a run of
2,000 documents within ±0.5 percentage point, counted on the province's own documents."""

from __future__ import annotations

import asyncio

import pytest

from lgsp.profiles import load_profile
from tests.e2e.helpers import simulation

pytestmark = pytest.mark.e2e

DOCUMENTS = 2000
TOLERANCE = 0.005  # ±0.5 pp
PROVINCE_TIERS = ("province", "district", "commune")  # central bodies sign by central.yaml


def test_the_2024_shares_are_reproduced_at_2000_documents(kafka_bootstrap, pki_cache, run_id):
    shares = load_profile("thanh-hoa-2024")["signing"]
    assert (shares["personal_share"], shares["agency_share"]) == (0.9872, 0.98)
    sim = simulation(kafka_bootstrap, pki_cache, run_id, profiles=("thanh-hoa-2024",),
                     documents=DOCUMENTS, rate=200.0)
    report = asyncio.run(sim.run())
    by_tier = report["signing"]["by_tier"]
    documents = sum(by_tier[t]["documents"] for t in PROVINCE_TIERS)
    personal = sum(by_tier[t]["personal_signed"] for t in PROVINCE_TIERS) / documents
    agency = sum(by_tier[t]["agency_signed"] for t in PROVINCE_TIERS) / documents
    assert documents > 0.9 * DOCUMENTS, by_tier
    assert abs(personal - 0.9872) <= TOLERANCE, personal
    assert abs(agency - 0.98) <= TOLERANCE, agency
    # the bus refuses (02) every delivery of a document without the agency's signature, and
    # loses none
    failures = report["signing"]["verification"]["failures"]
    assert set(failures) == {"missing_agency_signature"}, failures
    t = report["totals"]
    assert failures["missing_agency_signature"] == t["rejected"] > 0
    assert report["rejections"] == {"missing_agency_signature": t["rejected"]}
    assert (t["lost"], t["incomplete"], t["delivered"]) == (0, 0, t["sent"])
