"""Routing decisions of a platform (domain.md §6), pure functions of the topology.

An LGSP delivers to its own members and sends every other recipient to VDXP in **one** forwarded
packet; VDXP validates strictly and fans out per recipient to each recipient's home platform.
Statuses travel the reverse way to the original sender.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lgsp.domain.agency import AgencyCode
from lgsp.domain.topology import VDXP, Topology
from lgsp.errors import ConfigError
from lgsp.metrics.run import LOCAL, VIA_VDXP, Route

UNKNOWN_RECIPIENT = "unknown_recipient"
MISROUTED = "misrouted"


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where the recipients of one packet go from this platform."""

    local: tuple[str, ...] = ()
    """Delivered to members of this platform."""
    forward: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(destination platform, recipients) packets to other platforms' inbound topics."""
    failed: dict[str, str] = field(default_factory=dict)
    """Recipient -> transport failure reason."""


def _province_unit(topology: Topology, platform: str) -> str | None:
    province = topology.provinces.get(platform)
    return province.unit if province else None


def _looks_like_code(code: str) -> AgencyCode | None:
    try:
        return AgencyCode(code)
    except ConfigError:
        return None


def route_document(topology: Topology, platform: str, recipients: tuple[str, ...], *,
                   came_from: str | None = None, lenient: bool = False) -> RouteDecision:
    """Split a document packet's recipients at ``platform``.

    ``came_from`` is the previous hop (None when the sender submitted it here). ``lenient`` lets an
    LGSP deliver to a code of its own province that its directory does not know (the record then
    reaches no agent and is dead-lettered there); strict platforms fail it at once.
    """
    local: list[str] = []
    failed: dict[str, str] = {}
    if platform == VDXP:
        by_platform: list[tuple[str, tuple[str, ...]]] = []
        for r in recipients:
            home = topology.platform_of(r)
            if home is None:
                failed[r] = UNKNOWN_RECIPIENT
            elif home == VDXP:
                local.append(r)
            else:
                by_platform.append((home, (r,)))  # VDXP fans out per recipient
        return RouteDecision(tuple(local), tuple(by_platform), failed)

    unit = _province_unit(topology, platform)
    remote: list[str] = []
    for r in recipients:
        home = topology.platform_of(r)
        code = _looks_like_code(r)
        if home == platform:
            local.append(r)
        elif code is None:
            failed[r] = UNKNOWN_RECIPIENT
        elif home is None and code.unit == unit:
            if lenient:
                local.append(r)
            else:
                failed[r] = UNKNOWN_RECIPIENT
        elif came_from == VDXP:
            failed[r] = MISROUTED
        else:
            remote.append(r)
    forward = ((VDXP, tuple(remote)),) if remote else ()
    return RouteDecision(tuple(local), forward, failed)


@dataclass(frozen=True, slots=True)
class StatusRoute:
    """Where a status goes next: delivered here, to another platform, or nowhere (with reason)."""

    deliver_here: bool = False
    next_platform: str | None = None
    failure: str | None = None


def route_status(topology: Topology, platform: str, addressee: str, *,
                 came_from: str | None = None) -> StatusRoute:
    """The next hop of a status addressed to the original sender ``addressee``."""
    home = topology.platform_of(addressee)
    if home == platform:
        return StatusRoute(deliver_here=True)
    if platform == VDXP:
        if home is None:
            return StatusRoute(failure=UNKNOWN_RECIPIENT)
        return StatusRoute(next_platform=home)
    if came_from == VDXP:
        return StatusRoute(failure=MISROUTED)
    return StatusRoute(next_platform=VDXP)


def route_of(topology: Topology, sender: str, recipient: str) -> Route:
    """The metrics route of a (sender, recipient) pair: tiers and local vs via VDXP."""
    sender_agency = topology.agencies.get(sender)
    recipient_agency = topology.agencies.get(recipient)
    sender_tier = sender_agency.tier if sender_agency else "unknown"
    recipient_tier = recipient_agency.tier if recipient_agency else "unknown"
    same = (sender_agency is not None and recipient_agency is not None
            and sender_agency.platform == recipient_agency.platform)
    return Route(sender_tier, recipient_tier, LOCAL if same else VIA_VDXP)
