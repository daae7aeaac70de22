"""Sharding a run over workers (processes, and hosts) by agency, through Kafka partitions.

``deliver`` topics are keyed by the agency a record is for, and Kafka's default partitioner puts a
key in ``murmur2(key) mod partitions``. Worker ``i`` of ``n`` reads the partitions ``p`` with
``p mod n == i`` of every topic, so it holds the recipient agents of its agencies, and it sends the
documents of the same agencies: the statuses coming back to a sender land on the worker that sent
the document, whose tracker measures send → 01 on its own clock. No state is shared between
workers except through the broker.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.partitioner import murmur2

from lgsp.errors import ConfigError


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner chooses for ``key``."""
    hashed: int = murmur2(key.encode())
    return (hashed & 0x7FFFFFFF) % partitions


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    count: int
    partitions: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ConfigError(f"worker {self.index} of {self.count} does not exist")
        if self.partitions < self.count:
            raise ConfigError(f"{self.count} workers need at least {self.count} partitions per "
                              f"topic (--partitions is {self.partitions})")

    @classmethod
    def whole(cls, partitions: int) -> Shard:
        return cls(0, 1, partitions)

    @property
    def owned_partitions(self) -> list[int]:
        return [p for p in range(self.partitions) if p % self.count == self.index]

    def owns(self, agency_code: str) -> bool:
        """Whether this worker sends (and receives for) ``agency_code``."""
        return partition_of(agency_code, self.partitions) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index + 1}/{self.count}"
