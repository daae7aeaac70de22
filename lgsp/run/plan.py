"""The plan of a run, before anything runs: its id and topic names, the topology and the traffic
model, which agencies send, and the documents of a shard on the schedule. The coordinator plans
with it; each worker's ``Simulation`` runs its share of it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lgsp.bus.shard import Shard
from lgsp.bus.topics import TopicNames
from lgsp.domain.topology import Topology
from lgsp.profiles import load_topology, load_traffic
from lgsp.run.config import SimulationConfig
from producers.traffic import Draft, TrafficModel

SMALL_RUN = 20_000
"""Up to this many documents the senders are drawn from the plan; beyond, every agency sends."""


@dataclass(frozen=True, slots=True)
class RunPlan:
    config: SimulationConfig
    run_id: str
    """``run-<8 hex>`` unless the config names one; in every topic and group name."""
    topics: TopicNames
    topology: Topology

    @classmethod
    def of(cls, config: SimulationConfig) -> RunPlan:
        run_id = config.run_id or f"run-{secrets.token_hex(4)}"
        topology = load_topology(list(config.profiles))
        config.external.check(topology)
        return cls(config, run_id, TopicNames(run_id), topology)

    def traffic(self) -> TrafficModel:
        """A fresh traffic model at the run's seed: every call draws the same sequence."""
        return TrafficModel(self.topology, load_traffic(self.config.traffic_profile),
                            seed=self.config.seed, fan_out_mean=self.config.fan_out_mean,
                            external=self.config.external.recipients,
                            external_share=self.config.external.share)

    def schedule(self, shard: Shard, traffic: TrafficModel | None = None
                 ) -> Iterator[tuple[int, Draft]]:
        """(intended offset from the schedule start in ns, draft) of ``shard``'s documents.

        Every worker draws the same global sequence (same seed) and keeps the documents of the
        agencies it owns, so a run's documents do not depend on how many workers send them."""
        traffic = traffic or self.traffic()
        for offset in self.config.load_shape().offsets_ns(self.config.documents):
            draft = traffic.draft()
            if shard.owns(draft.sender):
                yield offset, draft

    def senders(self, small_run: int = SMALL_RUN) -> list[str]:
        """The agencies that will send: drawn from the plan for a small run, all agencies of the
        topology for a long one (every agency can send; keys are cached after the first run)."""
        count = self.config.load_shape().expected_count()
        if self.config.documents is not None:
            count = min(count, self.config.documents)
        if count > small_run:
            return sorted(self.topology.agencies)
        dry = self.traffic()
        return sorted({dry.draft().sender for _ in range(count)})

    def recipients(self, small_run: int = SMALL_RUN) -> list[str]:
        """The agencies lgsp-sim's recipients will answer for (not ``--external`` ones): those
        the plan addresses for a small run, every other agency for a long one."""
        count = self.config.load_shape().expected_count()
        if self.config.documents is not None:
            count = min(count, self.config.documents)
        outside = self.config.external.recipient_set
        if count > small_run:
            return sorted(set(self.topology.agencies) - outside)
        dry = self.traffic()
        return sorted({code for _ in range(count) for code in dry.draft().recipients
                       if code in self.topology.agencies} - outside)

    def bus_topics(self) -> list[str]:
        """The platforms' topics, the dead-letter and revocation topics (unrotated names)."""
        return self.topics.all_for(self.topology.platforms)

    def topology_facts(self) -> dict[str, Any]:
        return {"tiers": self.topology.tiers, "agencies": len(self.topology.agencies),
                "counts_by_tier": self.topology.counts_by_tier(),
                "platforms": self.topology.platforms}
