"""Building a simulation on the test broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lgsp.cli.simulation import Simulation, SimulationConfig
from lgsp.config import BrokerConfig
from lgsp.signing import SignatureAlgorithm


def simulation(bootstrap: str, pki_cache: Path, run_id: str, **overrides: Any) -> Simulation:
    settings: dict[str, Any] = {"run_id": run_id, "pki_cache": pki_cache,
                                "signature_algorithm": SignatureAlgorithm.ED25519,
                                "ack_timeout_s": 30.0, "settle_timeout_s": 60.0}
    settings.update(overrides)
    return Simulation(SimulationConfig(**settings), BrokerConfig(bootstrap=bootstrap))
