"""Agency identifier codes (QCVN 102:2016/BTTTT) and agencies.

A code is ``DDD.DD.DD.LDD`` read right to left: ``LDD`` is the level-1 unit (group letter + two
digits: G central bodies, H provinces, A Party organs), then level 2, level 3, and ``DDD`` level 4.
All-zero groups mean the level is unused. The parent of a code is the code with its lowest used
level zeroed, so the chain up to the level-1 unit is derivable from the code alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lgsp.errors import ConfigError

_CODE = re.compile(r"^(\d{3})\.(\d{2})\.(\d{2})\.([A-Z]\d{2})$")


@dataclass(frozen=True, slots=True, order=True)
class AgencyCode:
    """A validated QCVN 102 agency code such as ``000.00.00.H56``."""

    value: str
    """The code as written, ``DDD.DD.DD.LDD``."""

    def __post_init__(self) -> None:
        if not _CODE.match(self.value):
            raise ConfigError(
                f"agency code {self.value!r} is not of the QCVN 102 form DDD.DD.DD.LDD "
                "(e.g. 000.00.00.H56)"
            )

    @classmethod
    def parse(cls, text: str) -> AgencyCode:
        return cls(text.strip())

    @property
    def unit(self) -> str:
        """The level-1 unit, e.g. ``H56`` (a province) or ``G22`` (the Government Office)."""
        return self.value[-3:]

    @property
    def group(self) -> str:
        """The group letter: G central government, H province, A Party organ."""
        return self.value[-3]

    @property
    def levels(self) -> tuple[str, str, str]:
        """Levels 2, 3 and 4 as written (``"00"``, ``"00"``, ``"000"`` when unused)."""
        level4, level3, level2, _unit = self.value.split(".")
        return level2, level3, level4

    @property
    def depth(self) -> int:
        """1 for a level-1 unit, up to 4."""
        level2, level3, level4 = self.levels
        if int(level4):
            return 4
        if int(level3):
            return 3
        if int(level2):
            return 2
        return 1

    @property
    def parent(self) -> AgencyCode | None:
        """The code one level up, or None for a level-1 unit."""
        level4, level3, level2, unit = self.value.split(".")
        if int(level4):
            return AgencyCode(f"000.{level3}.{level2}.{unit}")
        if int(level3):
            return AgencyCode(f"000.00.{level2}.{unit}")
        if int(level2):
            return AgencyCode(f"000.00.00.{unit}")
        return None

    def chain(self) -> list[AgencyCode]:
        """This code and its ancestors up to the level-1 unit, nearest first."""
        out: list[AgencyCode] = [self]
        while (up := out[-1].parent) is not None:
            out.append(up)
        return out

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Agency:
    """A state agency that sends and receives documents."""

    code: AgencyCode
    """Its QCVN 102 code."""
    name: str
    """Vietnamese name, e.g. ``UBND xã Đông Hải``."""
    abbreviation: str
    """Used in notations, e.g. ``UBND`` or ``VPCP``."""
    tier: str
    """One of the topology's tiers (data, not code): central, province, district, commune."""
    platform: str
    """Its home platform: ``LGSP-H56`` for a province's agencies, ``VDXP`` for central ones."""
    kind: str
    """What it is within its tier: ``people_committee``, ``department``, ``central_body``."""
