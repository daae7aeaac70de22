"""Topic names of a run. Every arrow of the data flow is a topic; names carry the run id so runs
and tests never share topics.

* ``lgsp.<run>.<platform>.inbound``  what a platform must route: submissions of its member agencies,
  packets forwarded from/to VDXP, and statuses on their way back. Documents are keyed by DocumentId,
  statuses by their addressee (the original sender), so the statuses of a (document, recipient)
  stay in order.
* ``lgsp.<run>.<platform>.deliver``  what a platform hands to its member agencies. Keyed by the
  agency the record is for (recipient of a document, addressee of a status): per-agency order.
* ``lgsp.<run>.dead-letter``          records no stage could process, with the reason.
* ``lgsp.<run>.control``              hosts of a multi-host load meet here (not recorded).
* ``lgsp.<run>.ledger``               what the senders sent, for trackers in their own processes
                                      (crash-tolerant runs, ``lgsp.bus.ledger``; not recorded).

Long runs on a broker that keeps every byte in memory (the embedded Tansu ignores retention) rotate
topics: ``lgsp.<run>.g<N>.<platform>.inbound|deliver`` is *generation* N. A document goes to the
generation of its actual send time, and every record that follows from it (forwards, statuses)
stays in the topic generation of the record it came from, so a generation can be dropped once its
documents' lifecycles are over (see ``lgsp.bus.rotation``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lgsp.errors import ConfigError


@dataclass(frozen=True, slots=True)
class TopicNames:
    run_id: str
    prefix: str = "lgsp"

    def __post_init__(self) -> None:
        if not self.run_id or not all(c.isalnum() or c in "-_" for c in self.run_id):
            raise ConfigError(f"run id {self.run_id!r} must be letters, digits, '-' or '_'")

    def _base(self, generation: int | None) -> str:
        if generation is None:
            return f"{self.prefix}.{self.run_id}"
        return f"{self.prefix}.{self.run_id}.g{generation}"

    def inbound(self, platform: str, generation: int | None = None) -> str:
        return f"{self._base(generation)}.{platform.lower()}.inbound"

    def deliver(self, platform: str, generation: int | None = None) -> str:
        return f"{self._base(generation)}.{platform.lower()}.deliver"

    @staticmethod
    def generation_of(topic: str) -> int | None:
        """The generation of a rotated topic name, None for an unrotated one."""
        parts = topic.split(".")
        if len(parts) == 5 and parts[2].startswith("g") and parts[2][1:].isdigit():
            return int(parts[2][1:])
        return None

    @staticmethod
    def retarget(topic: str, run_id: str) -> str:
        """The same topic of run ``run_id``: ``lgsp.<run>[.g<N>].<rest>`` becomes
        ``lgsp.<run_id>.<rest>`` (a rotated generation maps to the unrotated name); a topic
        that is not a run's (``lgsp.replay-ledger``, another prefix) stays as it is."""
        parts = topic.split(".")
        if len(parts) < 3 or parts[0] != "lgsp":
            return topic
        rest = parts[2:]
        if len(rest) > 1 and rest[0].startswith("g") and rest[0][1:].isdigit():
            rest = rest[1:]
        return ".".join(("lgsp", run_id, *rest))

    @staticmethod
    def family(topic: str) -> str:
        """What a topic carries whatever its run and generation: ``<platform>.inbound``,
        ``<platform>.deliver``, or the last two parts of another name (``<run>.ledger``)."""
        return ".".join(topic.rsplit(".", 2)[-2:])

    def generation(self, platforms: list[str], generation: int) -> list[str]:
        """The inbound and deliver topics of one generation."""
        names = []
        for platform in platforms:
            names += [self.inbound(platform, generation), self.deliver(platform, generation)]
        return names

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.{self.run_id}.dead-letter"

    @property
    def control(self) -> str:
        """Where the hosts of a multi-host load meet (``lgsp.bus.barrier``)."""
        return f"{self.prefix}.{self.run_id}.control"

    @property
    def revocations(self) -> str:
        """Where the run's CA publishes revoked certificates (``lgsp.bus.revocations``)."""
        return f"{self.prefix}.{self.run_id}.revocations"

    @property
    def ledger(self) -> str:
        """The senders' ledger of a crash-tolerant run (``lgsp.bus.ledger``)."""
        return f"{self.prefix}.{self.run_id}.ledger"

    def all_for(self, platforms: list[str]) -> list[str]:
        names = [self.dead_letter, self.revocations]
        for platform in platforms:
            names += [self.inbound(platform), self.deliver(platform)]
        return names

    def group(self, role: str, platform: str) -> str:
        return f"{self.prefix}.{self.run_id}.{role}.{platform.lower()}"
