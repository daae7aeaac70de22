"""Topic names of a run. Every arrow of the data flow is a topic; names carry the run id so runs
and tests never share topics.

* ``lgsp.<run>.<platform>.inbound``  what a platform must route: submissions of its member agencies,
  packets forwarded from/to VDXP, and statuses on their way back. Documents are keyed by DocumentId,
  statuses by their addressee (the original sender), so the statuses of a (document, recipient)
  stay in order.
* ``lgsp.<run>.<platform>.deliver``  what a platform hands to its member agencies. Keyed by the
  agency the record is for (recipient of a document, addressee of a status): per-agency order.
* ``lgsp.<run>.dead-letter``          records no stage could process, with the reason.
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

    def inbound(self, platform: str) -> str:
        return f"{self.prefix}.{self.run_id}.{platform.lower()}.inbound"

    def deliver(self, platform: str) -> str:
        return f"{self.prefix}.{self.run_id}.{platform.lower()}.deliver"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.{self.run_id}.dead-letter"

    def all_for(self, platforms: list[str]) -> list[str]:
        names = [self.dead_letter]
        for platform in platforms:
            names += [self.inbound(platform), self.deliver(platform)]
        return names

    def group(self, role: str, platform: str) -> str:
        return f"{self.prefix}.{self.run_id}.{role}.{platform.lower()}"
