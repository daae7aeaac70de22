"""The agencies of a run and their home platforms, built from profile data.

Code scheme for generated agencies (any scheme is valid if codes are unique and parents derivable):

* UBND tỉnh ``000.00.00.H56``; department k ``000.00.{k:02}.H56`` (k = 1..30);
* district d ``000.00.{30+d:02}.H56`` (d = 1..69);
* commune j of district d ``000.{j:02}.{30+d:02}.H56`` (j = 1..99), whose parent is its district;
* central body ``000.00.00.Gnn`` on the national axis VDXP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lgsp.domain.agency import Agency, AgencyCode
from lgsp.errors import ConfigError

VDXP = "VDXP"
DISTRICT_OFFSET = 30


def platform_for_unit(unit: str) -> str:
    """Home platform code of a province's agencies, e.g. ``LGSP-H56``."""
    return f"LGSP-{unit}"


def _split(entry: str, parts: int) -> list[str]:
    fields = [p.strip() for p in str(entry).split("|")]
    if len(fields) != parts:
        raise ConfigError(f"profile entry {entry!r} must have {parts} '|'-separated fields")
    return fields


@dataclass(slots=True)
class Province:
    """One province and its LGSP."""

    name: str
    display_name: str
    unit: str
    platform: str
    office: str
    departments: list[str] = field(default_factory=list)
    districts: list[str] = field(default_factory=list)
    communes: dict[str, list[str]] = field(default_factory=dict)
    signing: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Topology:
    """Every agency of the run, indexed by code, with provinces and the central tier."""

    agencies: dict[str, Agency] = field(default_factory=dict)
    provinces: dict[str, Province] = field(default_factory=dict)  # by platform code
    central: list[str] = field(default_factory=list)
    central_signing: dict[str, float] = field(default_factory=dict)
    tiers: list[str] = field(default_factory=list)

    # ---- queries -------------------------------------------------------------------------
    def agency(self, code: str) -> Agency:
        try:
            return self.agencies[code]
        except KeyError:
            raise ConfigError(f"agency {code} is not in this run's topology") from None

    def platform_of(self, code: str) -> str | None:
        agency = self.agencies.get(code)
        return agency.platform if agency else None

    @property
    def platforms(self) -> list[str]:
        return [VDXP, *self.provinces]

    def members(self, platform: str) -> list[str]:
        if platform == VDXP:
            return list(self.central)
        return [c for c, a in self.agencies.items() if a.platform == platform]

    def directory(self) -> dict[str, dict[str, object]]:
        """Every platform as topic names spell it (lower case) → its province unit (None for
        the national axis) and member agencies: what an outside router needs to route."""
        return {platform.lower(): {"unit": self.provinces[platform].unit
                                   if platform in self.provinces else None,
                                   "agencies": sorted(self.members(platform))}
                for platform in self.platforms}

    def children(self, code: str) -> list[str]:
        province = self.province_of(code)
        if province is None:
            return []
        return list(province.communes.get(code, []))

    def province_of(self, code: str) -> Province | None:
        agency = self.agencies.get(code)
        return self.provinces.get(agency.platform) if agency else None

    def signing_shares(self, code: str) -> dict[str, float]:
        province = self.province_of(code)
        return province.signing if province else self.central_signing

    def counts_by_tier(self) -> dict[str, int]:
        counts = dict.fromkeys(self.tiers, 0)
        for agency in self.agencies.values():
            counts[agency.tier] = counts.get(agency.tier, 0) + 1
        return counts

    # ---- building ------------------------------------------------------------------------
    def _add(self, agency: Agency) -> None:
        if agency.code.value in self.agencies:
            raise ConfigError(f"agency code {agency.code} appears twice; check the profiles")
        self.agencies[agency.code.value] = agency
        if agency.tier not in self.tiers:
            self.tiers.append(agency.tier)

    def add_central(self, data: Mapping[str, Any]) -> None:
        tier = str(data.get("tier", "central"))
        for entry in data["bodies"]:
            unit, name, abbreviation = _split(entry, 3)
            code = AgencyCode(f"000.00.00.{unit}")
            self._add(Agency(code, name, abbreviation, tier, VDXP, "central_body"))
            self.central.append(code.value)
        self.central_signing = dict(data.get("signing", {}))

    def add_province(self, data: Mapping[str, Any]) -> None:
        unit = str(data["unit"])
        platform = platform_for_unit(unit)
        if platform in self.provinces:
            raise ConfigError(f"province {unit} is given twice; pass each --profile once")
        tiers = data["tiers"]
        office = AgencyCode(f"000.00.00.{unit}")
        province = Province(name=data["name"], display_name=data["display_name"], unit=unit,
                            platform=platform, office=office.value,
                            signing=dict(data.get("signing", {})))
        self._add(Agency(office, f"UBND tỉnh {data['display_name']}", "UBND",
                         tiers["people_committee"], platform, "people_committee"))
        departments = data.get("departments", [])
        districts = data.get("districts", [])
        if len(departments) > DISTRICT_OFFSET or len(districts) > 99 - DISTRICT_OFFSET:
            raise ConfigError(f"profile {data['name']}: at most {DISTRICT_OFFSET} departments and "
                              f"{99 - DISTRICT_OFFSET} districts fit the code scheme")
        for k, entry in enumerate(departments, start=1):
            name, abbreviation = _split(entry, 2)
            code = AgencyCode(f"000.00.{k:02}.{unit}")
            self._add(Agency(code, name, abbreviation, tiers["department"], platform, "department"))
            province.departments.append(code.value)
        for d, name in enumerate(districts, start=1):
            code = AgencyCode(f"000.00.{DISTRICT_OFFSET + d:02}.{unit}")
            self._add(Agency(code, f"UBND {name}", "UBND", tiers["district"], platform, "district"))
            province.districts.append(code.value)
            province.communes[code.value] = []
        n_communes = int(data.get("communes", 0))
        if districts and n_communes > 99 * len(districts):
            raise ConfigError(f"profile {data['name']}: {n_communes} communes do not fit 99 "
                              "per district")
        for i in range(n_communes):
            district = province.districts[i % len(province.districts)]
            j = len(province.communes[district]) + 1
            level2 = district.split(".")[2]
            code = AgencyCode(f"000.{j:02}.{level2}.{unit}")
            self._add(Agency(code, f"UBND xã {j} ({self.agencies[district].name[5:]})", "UBND",
                             tiers["commune"], platform, "commune"))
            province.communes[district].append(code.value)
        self.provinces[platform] = province


def build_topology(central: Mapping[str, Any], provinces: Iterable[Mapping[str, Any]]) -> Topology:
    """A topology of the central tier plus each province profile, in order."""
    topology = Topology()
    topology.add_central(central)
    for data in provinces:
        topology.add_province(data)
    return topology
