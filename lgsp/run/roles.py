"""The roles of a run's processes and what each one builds."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a process of a run does. A plain run's one process has them all; a crash-tolerant
    run (``--bus-workers``) gives each its own processes. A sender without its tracker writes
    the senders' ledger (``lgsp.bus.ledger``) that a tracker process reads."""

    SEND = "send"
    """Draft, sign and send its agencies' documents on the schedule."""
    TRACK = "track"
    """Follow each delivery's lifecycle from the statuses coming back (and the ledger)."""
    ROUTE = "route"
    """Route the platforms' inbound topics (LGSP and VDXP routers)."""
    RECEIVE = "receive"
    """Take in documents as the recipient agencies and answer with statuses."""


ROLES: frozenset[Role] = frozenset(Role)
"""Every role: what one process of a plain run does."""

SEND, TRACK, ROUTE, RECEIVE = Role.SEND, Role.TRACK, Role.ROUTE, Role.RECEIVE
