"""The roles of a run's processes and what each one builds."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lgsp.errors import ConfigError


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

BUS_ONLY: frozenset[Role] = frozenset({TRACK, ROUTE, RECEIVE})
"""A bus-only run's one process (``--bus-only``): the bus without senders."""


class StatusReader(StrEnum):
    """Who reads a platform's ``deliver`` topic in a process."""

    RECIPIENTS = "recipient"
    """The recipient agents: documents to take in, and (tracking in process) statuses back."""
    TRACKER = "tracker"
    """A tracker process's feed: the statuses for its senders."""


@dataclass(frozen=True, slots=True)
class RoleParts:
    """What a process with ``roles`` builds and reads: the one table the simulation, the worker
    and the coordinator consult instead of testing role sets.

    =========================  ====  =====  =====  =======  ==========================
    roles                      send  track  route  receive  reads
    =========================  ====  =====  =====  =======  ==========================
    all (a plain run)          yes   here   yes    yes      inbound, deliver
    send (crash-tolerant run)  yes   —      —      —        nothing; writes the ledger
    track                      —     alone  —      —        ledger, deliver (statuses)
    route                      —     —      yes    —        inbound
    receive                    —     —      —      yes      deliver
    track+route+receive        —     seen   yes    yes      inbound, deliver
    =========================  ====  =====  =====  =======  ==========================

    The last is a bus-only run's process (``--bus-only``): no senders; its tracker learns of
    each document from its own routers, which see it submitted (``lgsp.run.bus_only``).
    """

    roles: frozenset[Role]

    def __post_init__(self) -> None:
        unknown = self.roles - ROLES
        if unknown or not self.roles:
            raise ConfigError(f"roles {sorted(self.roles)} must be some of {sorted(ROLES)}")
        if TRACK in self.roles and SEND not in self.roles and self.roles != {TRACK} \
                and not self.observes:
            raise ConfigError("a tracker without its senders runs in a process of its own, "
                              "or with every router and recipient (a bus-only run; roles "
                              f"{sorted(self.roles)})")

    @property
    def sends(self) -> bool:
        return SEND in self.roles

    @property
    def tracks_here(self) -> bool:
        """Sender (or, bus-only, the routers) and tracker in one process: statuses go straight
        to the tracker."""
        return {SEND, TRACK} <= self.roles or self.observes

    @property
    def observes(self) -> bool:
        """A bus-only run's process: routes, receives and tracks what its routers see submitted
        (no sender, no ledger)."""
        return self.roles == BUS_ONLY

    @property
    def tracks_alone(self) -> bool:
        """A tracker process: learns what was sent from the senders' ledger, never commits
        (it resumes from its checkpoint)."""
        return self.roles == {TRACK}

    @property
    def writes_ledger(self) -> bool:
        """A sender whose tracker is another process."""
        return SEND in self.roles and TRACK not in self.roles

    @property
    def routes(self) -> bool:
        return ROUTE in self.roles

    @property
    def receives(self) -> bool:
        return RECEIVE in self.roles

    @property
    def deliver_reader(self) -> StatusReader | None:
        if self.receives or self.tracks_here:
            return StatusReader.RECIPIENTS
        if self.tracks_alone:
            return StatusReader.TRACKER
        return None

    @property
    def settles(self) -> bool:
        """The run waits for this process to settle (it sends or tracks)."""
        return bool(self.roles & {SEND, TRACK})

    @property
    def restartable(self) -> bool:
        """A router, recipient or tracker process: restarted when it dies (a sender is the load
        itself and is not)."""
        return SEND not in self.roles and not self.observes

    @property
    def name(self) -> str:
        """``all``, or the roles joined by ``+`` (in group names, logs and worker names)."""
        return "all" if self.roles == ROLES else "+".join(sorted(self.roles))
