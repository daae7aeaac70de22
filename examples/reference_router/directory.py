"""The platform directory (``lgsp topology --directory``) and the decision table of
docs/contract.md §10: where a document's recipient goes, and where a status goes on to.

The directory is ``{"<platform as topics spell it>": {"unit": "H56" | null, "agencies": [...]}}``;
``vdxp`` (the national axis) has no unit. A platform's *code* is how ``lgsp topology`` prints it:
its topic spelling upper-cased (``LGSP-H56``, ``VDXP``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

VDXP = "vdxp"
CODE = re.compile(r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}")

UNKNOWN_RECIPIENT = "unknown_recipient"
MISROUTED = "misrouted"


def well_formed(code: str) -> bool:
    """``NNN.NN.NN.XNN``: three digits, two, two, a capital letter and two digits."""
    return CODE.fullmatch(code) is not None


def unit_of(code: str) -> str:
    """An agency code's unit: its last segment."""
    return code.rpartition(".")[2]


def platform_code(name: str) -> str:
    """The code as ``lgsp topology`` prints it (``LGSP-H56``, ``VDXP``) from the topic spelling."""
    return name.upper()


class Decision(Enum):
    LOCAL = "local"
    FORWARD = "forward"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Route:
    """What becomes of one recipient (or of one status): delivered here, forwarded to the
    platform ``to`` (topic spelling), or failed / dead-lettered with ``reason``."""

    decision: Decision
    to: str | None = None
    reason: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Directory:
    """Every platform of a run with its unit and member agencies."""

    units: dict[str, str | None]
    home: dict[str, str]
    """agency code → its platform (topic spelling)."""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Directory:
        units: dict[str, str | None] = {}
        home: dict[str, str] = {}
        for name, entry in data.items():
            platform = name.lower()
            unit = entry.get("unit")
            units[platform] = str(unit) if unit is not None else None
            for code in entry.get("agencies", []):
                home.setdefault(str(code), platform)
        return cls(units, home)

    @classmethod
    def load(cls, path: Path) -> Directory:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))

    def platforms(self) -> list[str]:
        return list(self.units)

    def lgsps(self) -> list[str]:
        return [name for name in self.units if name != VDXP]


@dataclass(frozen=True, slots=True)
class Platform:
    """The platform this router plays, with the decision table of §10."""

    name: str
    """As topics spell it: ``lgsp-h56``, ``vdxp``."""
    directory: Directory

    def __post_init__(self) -> None:
        if self.name not in self.directory.units:
            known = ", ".join(self.directory.platforms()) or "none"
            raise ValueError(f"platform {self.name!r} is not in the directory (it has {known})")
        if not self.is_vdxp and self.unit is None:
            raise ValueError(f"platform {self.name!r} has no unit in the directory")

    @property
    def code(self) -> str:
        return platform_code(self.name)

    @property
    def is_vdxp(self) -> bool:
        return self.name == VDXP

    @property
    def unit(self) -> str | None:
        return self.directory.units[self.name]

    def member(self, code: str) -> bool:
        return self.directory.home.get(code) == self.name

    def recipient(self, code: str, previous_hop: str | None) -> Route:
        """The §10 table for one recipient of a document; ``previous_hop`` is the platform code
        of the document's last ``lgsp-trace`` entry (None: an agency submitted it)."""
        home = self.directory.home.get(code)
        if home == self.name:
            return Route(Decision.LOCAL)
        if self.is_vdxp:
            if home is None:
                return Route(Decision.FAIL, reason=UNKNOWN_RECIPIENT,
                             detail=f"{code} is in no platform's directory")
            return Route(Decision.FORWARD, to=home)
        if not well_formed(code):
            return Route(Decision.FAIL, reason=UNKNOWN_RECIPIENT,
                         detail=f"{code!r} is not a well-formed agency code")
        if home is None and unit_of(code) == self.unit:
            return Route(Decision.FAIL, reason=UNKNOWN_RECIPIENT,
                         detail=f"{code} is of unit {self.unit} but not a member of {self.code}")
        if _is_vdxp(previous_hop):
            return Route(Decision.FAIL, reason=MISROUTED,
                         detail=f"VDXP sent {code} to {self.code}, whose member it is not")
        return Route(Decision.FORWARD, to=VDXP)

    def status(self, addressee: str, previous_hop: str | None) -> Route:
        """Where a status for ``addressee`` (the original sender) goes on to; FAIL means it is
        dead-lettered with the reason."""
        home = self.directory.home.get(addressee)
        if home == self.name:
            return Route(Decision.LOCAL)
        if self.is_vdxp:
            if home is None:
                return Route(Decision.FAIL, reason=UNKNOWN_RECIPIENT,
                             detail=f"the addressee {addressee!r} is in no platform's directory")
            return Route(Decision.FORWARD, to=home)
        if _is_vdxp(previous_hop):
            return Route(Decision.FAIL, reason=MISROUTED,
                         detail=f"VDXP sent a status for {addressee!r} to {self.code}, whose "
                                "member it is not")
        return Route(Decision.FORWARD, to=VDXP)


def _is_vdxp(hop: str | None) -> bool:
    return hop is not None and hop.strip().lower() == VDXP
